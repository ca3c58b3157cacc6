package warc

import (
	"context"
	"crypto/sha1"
	"encoding/base32"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MemoryDigests is a Digests held in memory, for a crawl in one process
// that ends with it. It is compact, since a one-shot crawl indexes every
// payload it archives: about 100 bytes an entry besides the URI's own
// bytes, the growth of its map and slices included
// (BenchmarkMemoryDigests: 187 bytes an entry with 80-byte URIs, at a
// million entries), so a million payloads take under 200 MB; its map
// holds no pointer, so the garbage collector does not scan it. It indexes
// up to 4 GiB of URIs; a payload beyond is not indexed (archived in
// full). Safe for concurrent use.
type MemoryDigests struct {
	mu    sync.Mutex
	index map[[sha1.Size]byte]uint32 // digest → entry number
	ents  []memDigest
	uris  []byte // every entry's URI, one after the other; entry i's ends at ents[i].end
}

// memDigest is a capture in MemoryDigests, but for its digest (the key)
// and URI (in the shared buffer).
type memDigest struct {
	date int64     // Unix nanoseconds
	id   uuid.UUID // the record id's UUID; zero if unknown (or not a UUID URN)
	end  uint32
}

// NewMemoryDigests returns an empty index.
func NewMemoryDigests() *MemoryDigests {
	return &MemoryDigests{index: make(map[[sha1.Size]byte]uint32)}
}

var _ Digests = (*MemoryDigests)(nil)

// Claim implements Digests.
func (m *MemoryDigests) Claim(_ context.Context, c Capture) (Capture, bool, error) {
	key := digestKey(c.Digest)
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.index[key]; ok {
		return m.capture(i, c.Digest), true, nil
	}
	end := len(m.uris) + len(c.URI)
	if end > math.MaxUint32 || len(m.ents) >= math.MaxUint32 {
		return Capture{}, false, nil // full: c is archived in full, unindexed
	}
	m.index[key] = uint32(len(m.ents))
	m.uris = append(m.uris, c.URI...)
	m.ents = append(m.ents, memDigest{date: c.Date.UnixNano(), id: uuidOf(c.RecordID), end: uint32(end)})
	return Capture{}, false, nil
}

// Unclaim implements Digests. The entry's URI stays in the buffer: a
// failed write is rare.
func (m *MemoryDigests) Unclaim(_ context.Context, c Capture) error {
	key := digestKey(c.Digest)
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.index[key]; ok {
		if got := m.capture(i, c.Digest); got.URI == c.URI && got.Date.Equal(c.Date) {
			delete(m.index, key)
		}
	}
	return nil
}

// Len returns the number of payloads indexed.
func (m *MemoryDigests) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.index)
}

// capture returns entry i, of digest. With m.mu held.
func (m *MemoryDigests) capture(i uint32, digest string) Capture {
	var start uint32
	if i > 0 {
		start = m.ents[i-1].end
	}
	e := m.ents[i]
	c := Capture{URI: string(m.uris[start:e.end]), Date: time.Unix(0, e.date).UTC(), Digest: digest}
	if e.id != (uuid.UUID{}) {
		c.RecordID = e.id.URN()
	}
	return c
}

// digestKey is the SHA-1 a "sha1:BASE32" digest names; any other digest
// is keyed by its own SHA-1, which tells digests apart as well.
func digestKey(digest string) [sha1.Size]byte {
	var key [sha1.Size]byte
	if b32, ok := strings.CutPrefix(digest, "sha1:"); ok && len(b32) == base32.StdEncoding.EncodedLen(sha1.Size) {
		if n, err := base32.StdEncoding.Decode(key[:], []byte(b32)); err == nil && n == sha1.Size {
			return key
		}
	}
	return sha1.Sum([]byte(digest))
}

// uuidOf returns the UUID of a "urn:uuid:…" record id, or zero.
func uuidOf(id string) uuid.UUID {
	// Only the form URN writes back: lower-case hex, "urn:uuid:" first.
	if len(id) != len("urn:uuid:")+36 || !strings.HasPrefix(id, "urn:uuid:") || strings.ContainsAny(id, "ABCDEF") {
		return uuid.UUID{}
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.UUID{}
	}
	return u
}
