// Package seen is a compact set of URL fingerprints: the crawler's record of
// which URLs were already admitted.
//
// # Representation
//
// A URL is reduced to a 64-bit [Fingerprint] (SipHash-2-4 under a fixed,
// public key; never 0) and only the fingerprint is kept, in an open-addressing
// hash table of uint64 slots with linear probing, where 0 marks an empty slot.
// The table is kept at most 3/4 full and grows by half (×1.5) when an insert
// would overfill it, so once a set has grown at least once its load factor is
// between 1/2 and 3/4 and it takes between 10.7 and 16 bytes per URL
// (8 bytes per slot ÷ load factor); growing from [New](0) to 10 million URLs
// ends at 13.7 bytes per URL (17.2 million slots, 131 MiB). A set sized with
// New(n) and then filled with n URLs takes 10.7 bytes per URL. While the
// table grows, the old and the new table are both live for a moment (2.5
// times the old size); New(n) with the expected count avoids the growth
// altogether. Growth by ×1.5 rather than ×2 is what keeps the 16-byte bound:
// with doubling, a table just grown would be 3/8 full, 21.3 bytes per URL.
//
// # False positives
//
// There are never false negatives: a URL that was added is always reported
// present. A false positive — a URL reported present although it was never
// added, so the crawler skips it — happens exactly when its fingerprint
// equals that of a URL that was added. Treating fingerprints of distinct URLs
// as independent uniform 64-bit values (which SipHash gives natural input,
// whose structure cannot depend on the hash):
//
//   - adding one new URL to a set of n fingerprints is wrongly refused with
//     probability n / 2^64: 5.4e-13 at n = 10 million;
//   - the expected number of colliding pairs among n distinct URLs, which
//     bounds the expected number of URLs wrongly skipped over a whole crawl
//     and the probability that any collision happens at all, is
//     n(n-1)/2 / 2^64 ≈ n² / 2^65: 2.7e-8 for 1 million URLs, 2.7e-6 for
//     10 million, 2.7e-4 for 100 million, 2.7e-2 for a billion.
//
// # Choice of hash
//
// The fingerprint must be stable across processes, because it may be
// persisted, so it cannot use a per-process random seed (as hash/maphash
// does); its key is fixed and, being in the source, public. What an attacker
// who publishes URLs can then do:
//
//   - Make two of their own URLs collide, by the birthday bound, in about
//     2^32 hash evaluations. This holds for any 64-bit fingerprint whatever
//     the hash (truncated SHA-256 included) and does no harm: one of the
//     attacker's own URLs is skipped.
//   - Make the crawler skip somebody else's URL, which needs a second
//     preimage: a URL of theirs with the same fingerprint as the victim's.
//     For FNV-1a this is a matter of algebra (its steps are invertible and
//     nearly linear), and so it is for xxHash64 on URLs of 32 bytes or more:
//     its four lanes are updated independently, each by a step that can be
//     solved for the input block. For SipHash-2-4 no method better than
//     trying about 2^64 candidates is known even with the key public, as
//     for truncated SHA-256. (SipHash's proven security assumes a secret
//     key; this is a weaker, heuristic claim, but the best one a 64-bit
//     fingerprint can make.)
//   - Degrade the table by crafting URLs whose fingerprints land in the same
//     probe run. This is prevented by placing each fingerprint at a slot
//     derived from it through hash/maphash with a random per-Set seed (the
//     runtime's own map hash): which slot a fingerprint takes differs from
//     process to process and cannot be aimed at.
//
// Speed is the price: SipHash-2-4 takes about 30 ns for a 60-byte URL
// (2 GB/s), where xxHash64 takes a fraction of that and SHA-256 about four
// times as long even with SHA instructions. That is less than the cache miss
// of the table lookup that follows at millions of entries (70–170 ns), and
// small beside what the crawler does per URL anyway (parsing, normalizing,
// a lock), so the quality is worth it.
//
// The fixed key is the SipHash reference key 00 01 02 … 0f, so the
// fingerprints are plain SipHash-2-4 values that any implementation can
// recompute and that the tests check against the published vectors.
package seen

import (
	"hash/maphash"
	"math/bits"
)

const (
	minSlots = 8 // the smallest table
	// At most maxLoadNum/maxLoadDen of the slots are full. slotsFor assumes
	// 3/4.
	maxLoadNum = 3
	maxLoadDen = 4
)

// Set is a set of URL fingerprints. Not safe for concurrent use (the frontier
// that owns it holds a lock).
//
// The zero value is an empty set ready to use, like New(0).
type Set struct {
	slots []uint64     // fingerprints; 0 is an empty slot
	vals  []uint8      // with values (NewWithValues): each slot's value; nil otherwise
	n     int          // number of non-zero slots
	limit int          // most slots that may be full: len(slots) * 3/4
	seed  maphash.Seed // placement seed, random per Set
}

// New returns an empty Set sized for about n entries (n may be 0): it holds
// n fingerprints without growing.
func New(n int) *Set {
	s := new(Set)
	s.init(slotsFor(n))
	return s
}

// NewWithValues is New for a set that keeps one byte with each fingerprint
// (see SetValue), at one more byte per slot: 1.3 to 2 bytes per URL on top
// of the 10.7 to 16.
func NewWithValues(n int) *Set {
	s := &Set{vals: []uint8{}}
	s.init(slotsFor(n))
	return s
}

// slotsFor returns the number of slots that hold n fingerprints at the
// largest load allowed.
func slotsFor(n int) int {
	if n <= 0 {
		return minSlots
	}
	// n + ceil(n/3) = ceil(4n/3) slots, of which 3/4 (rounded down) is n or
	// more; computed without forming 4n, which could overflow.
	return max(minSlots, n+(n+2)/3)
}

// init gives s a new seed and an empty table of the given number of slots.
func (s *Set) init(slots int) {
	s.seed = maphash.MakeSeed()
	s.alloc(slots)
}

// alloc gives s an empty table of the given number of slots.
func (s *Set) alloc(slots int) {
	s.slots = make([]uint64, slots)
	if s.vals != nil {
		s.vals = make([]uint8, slots)
	}
	s.n = 0
	s.limit = slots * maxLoadNum / maxLoadDen
}

// home returns the slot where the probe for fp starts.
func (s *Set) home(fp uint64) int {
	// Lemire's multiply-shift reduction maps the 64-bit hash onto
	// [0, len(slots)) without a division and for any table size.
	hi, _ := bits.Mul64(maphash.Comparable(s.seed, fp), uint64(len(s.slots)))
	return int(hi)
}

// Fingerprints are kept as they are, except that 0 (the empty slot) is
// stored as 1, as [Fingerprint] already returns it.
func normalize(fp uint64) uint64 {
	if fp == 0 {
		return 1
	}
	return fp
}

// Add adds url and reports whether it was absent (false: already present, or a
// fingerprint collision with another string — the documented false-positive
// case).
func (s *Set) Add(url string) bool {
	return s.AddFingerprint(Fingerprint(url))
}

// AddFingerprint is Add for a precomputed fingerprint, as returned by
// [Fingerprint]. A fingerprint of 0, which Fingerprint never returns, is
// taken as 1.
func (s *Set) AddFingerprint(fp uint64) bool {
	fp = normalize(fp)
	if s.slots == nil {
		s.init(minSlots)
	}
	i := s.home(fp)
	for {
		switch s.slots[i] {
		case fp:
			return false
		case 0:
			if s.n >= s.limit {
				s.grow()
				i = s.free(fp)
			}
			s.slots[i] = fp
			s.n++
			return true
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// free returns the slot where fp, known to be absent, would be inserted.
func (s *Set) free(fp uint64) int {
	i := s.home(fp)
	for s.slots[i] != 0 {
		if i++; i == len(s.slots) {
			i = 0
		}
	}
	return i
}

// grow moves the fingerprints into a table half as large again.
//
// The seed is kept, so a fingerprint's home slot scales with the table
// (home = ⌊hash·len/2^64⌋): the old table, read in order, holds the
// fingerprints in nearly ascending order of their new home, and the new
// table is written nearly in order too, at memory speed rather than with a
// cache miss per fingerprint.
func (s *Set) grow() {
	old, oldVals, n := s.slots, s.vals, s.n
	s.alloc(len(old) + len(old)/2)
	for i, fp := range old {
		if fp != 0 {
			j := s.free(fp)
			s.slots[j] = fp
			if oldVals != nil {
				s.vals[j] = oldVals[i]
			}
		}
	}
	s.n = n
}

// find returns the slot holding fp (normalized), or -1.
func (s *Set) find(fp uint64) int {
	if s.n == 0 {
		return -1
	}
	i := s.home(fp)
	for {
		switch s.slots[i] {
		case fp:
			return i
		case 0:
			return -1
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// Value returns the value kept with fp, and whether fp is present. Without
// values (a set not made by NewWithValues) a present fingerprint's value is
// 0.
func (s *Set) Value(fp uint64) (v uint8, ok bool) {
	i := s.find(normalize(fp))
	if i < 0 {
		return 0, false
	}
	if s.vals != nil {
		v = s.vals[i]
	}
	return v, true
}

// SetValue adds fp if absent, keeps v with it (in a set made by
// NewWithValues; otherwise v is dropped), and reports whether fp was
// absent.
func (s *Set) SetValue(fp uint64, v uint8) bool {
	fp = normalize(fp)
	if s.slots == nil {
		s.init(minSlots)
	}
	i, added := s.home(fp), false
	for s.slots[i] != fp {
		if s.slots[i] == 0 {
			if s.n >= s.limit {
				s.grow()
				i = s.free(fp)
			}
			s.slots[i] = fp
			s.n++
			added = true
			break
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
	if s.vals != nil {
		s.vals[i] = v
	}
	return added
}

// Has reports whether url was added (with the same false-positive caveat).
func (s *Set) Has(url string) bool {
	return s.HasFingerprint(Fingerprint(url))
}

// HasFingerprint is Has for a precomputed fingerprint; 0 is taken as 1, as
// in AddFingerprint.
func (s *Set) HasFingerprint(fp uint64) bool {
	if s.n == 0 {
		return false
	}
	fp = normalize(fp)
	i := s.home(fp)
	for {
		switch s.slots[i] {
		case fp:
			return true
		case 0:
			return false
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// Len returns the number of fingerprints held.
func (s *Set) Len() int { return s.n }

// Bytes returns the memory the table takes, in bytes: 8 per slot, 9 with
// values.
func (s *Set) Bytes() int { return 8*len(s.slots) + len(s.vals) }

// Reset empties the set, keeping its memory.
func (s *Set) Reset() {
	clear(s.slots)
	clear(s.vals)
	s.n = 0
}
