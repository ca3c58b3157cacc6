package seen

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// urlLen is the length of the URLs makeURL returns.
const urlLen = 60

// makeURL returns a distinct 60-byte URL for each i in [0, 10^12).
func makeURL(i int) string {
	// "https://www.example.com/s" (25) + 3 digits + "/articles/item-" (15)
	// + 12 digits + ".html" (5) = 60 bytes.
	b := make([]byte, 0, urlLen)
	b = append(b, "https://www.example.com/s"...)
	b = appendPadded(b, i%1000, 3)
	b = append(b, "/articles/item-"...)
	b = appendPadded(b, i, 12)
	b = append(b, ".html"...)
	return string(b)
}

func appendPadded(b []byte, v, width int) []byte {
	d := strconv.Itoa(v)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// randomStrings returns n random URL-like strings of varied length, distinct
// with overwhelming probability (each carries 128 random bits).
func randomStrings(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_/."
	out := make([]string, n)
	buf := make([]byte, 0, 128)
	for i := range out {
		buf = append(buf[:0], "https://"...)
		for range 22 + r.IntN(40) {
			buf = append(buf, alphabet[r.IntN(len(alphabet))])
		}
		buf = strconv.AppendUint(buf, r.Uint64(), 36)
		buf = strconv.AppendUint(buf, r.Uint64(), 36)
		out[i] = string(buf)
	}
	return out
}

func TestMakeURL(t *testing.T) {
	for _, i := range []int{0, 1, 999, 123456789, 999999999999} {
		if u := makeURL(i); len(u) != urlLen {
			t.Fatalf("makeURL(%d) = %q: %d bytes, want %d", i, u, len(u), urlLen)
		}
	}
}

// TestNoFalseNegatives adds a million random strings to a set that grows
// from empty: every one must then be present, adding it again must report
// it present, and (with overwhelming probability) no distinct string may be
// refused as a collision.
func TestNoFalseNegatives(t *testing.T) {
	const n = 1_000_000
	urls := randomStrings(n, 1)
	distinct := make(map[string]struct{}, n)
	for _, u := range urls {
		distinct[u] = struct{}{}
	}

	s := New(0)
	collisions := 0
	for _, u := range urls {
		if !s.Add(u) {
			collisions++
		}
	}
	dups := n - len(distinct)
	t.Logf("%d strings (%d duplicates): %d refused as already present (expected 0; P(any collision) ≈ n²/2^65 = 2.7e-8)",
		n, dups, collisions-dups)
	if collisions-dups > 1 {
		t.Errorf("%d false \"already present\" answers among %d distinct strings", collisions-dups, len(distinct))
	}
	if s.Len() != n-collisions {
		t.Errorf("Len() = %d, want %d", s.Len(), n-collisions)
	}
	for _, u := range urls {
		if !s.Has(u) {
			t.Fatalf("Has(%q) = false after Add", u)
		}
		if s.Add(u) {
			t.Fatalf("Add(%q) = true on second add", u)
		}
	}
	if s.Len() != n-collisions {
		t.Errorf("Len() = %d after re-adding, want %d", s.Len(), n-collisions)
	}

	// Strings never added are (almost surely) absent.
	absent := 0
	for _, u := range randomStrings(100_000, 2) {
		if s.Has(u) {
			absent++
		}
	}
	if absent > 1 {
		t.Errorf("%d of 100000 strings never added reported present", absent)
	}

	perURL := float64(s.Bytes()) / float64(s.Len())
	t.Logf("%d entries: %d slots, %.2f bytes/URL", s.Len(), s.Bytes()/8, perURL)
	if perURL > 16 {
		t.Errorf("Bytes()/Len() = %.2f at %d entries, want ≤ 16", perURL, s.Len())
	}
}

// TestMatchesMap checks the table against a map of fingerprints, through many
// growths and with fingerprints crafted to collide in their low and high bits.
func TestMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := New(0)
	m := make(map[uint64]bool)
	check := func(fp uint64) {
		t.Helper()
		want := !m[normalize(fp)]
		if got := s.AddFingerprint(fp); got != want {
			t.Fatalf("AddFingerprint(%#x) = %v, want %v", fp, got, want)
		}
		m[normalize(fp)] = true
	}
	for i := range 200_000 {
		switch i % 4 {
		case 0:
			check(r.Uint64())
		case 1:
			check(uint64(r.IntN(1 << 16))) // small values, 0 among them
		case 2:
			check(uint64(r.IntN(1<<16)) << 48) // only high bits
		case 3:
			check(r.Uint64()) // duplicates of earlier values follow
			check(uint64(r.IntN(1 << 16)))
		}
	}
	if s.Len() != len(m) {
		t.Fatalf("Len() = %d, want %d", s.Len(), len(m))
	}
	for fp := range m {
		if !s.HasFingerprint(fp) {
			t.Fatalf("fingerprint %#x missing", fp)
		}
	}
	if !s.HasFingerprint(0) || !s.HasFingerprint(1) {
		t.Error("0 and 1 should both be present (0 is stored as 1)")
	}
}

func TestZeroFingerprintIsOne(t *testing.T) {
	s := New(0)
	if !s.AddFingerprint(0) {
		t.Fatal("AddFingerprint(0) on empty set = false")
	}
	if s.AddFingerprint(1) {
		t.Error("AddFingerprint(1) after AddFingerprint(0) = true, want false (0 is taken as 1)")
	}
	if s.Len() != 1 {
		t.Errorf("Len() = %d, want 1", s.Len())
	}
}

func TestGrowthPreservesContents(t *testing.T) {
	s := New(0)
	startBytes := s.Bytes()
	var urls []string
	grows := 0
	for i := range 50_000 {
		before := s.Bytes()
		u := makeURL(i)
		if !s.Add(u) {
			t.Fatalf("Add(%q) = false for a new URL", u)
		}
		urls = append(urls, u)
		if s.Bytes() != before {
			grows++
			if got, want := s.Bytes(), before/8*8+before/16*8; got != want {
				t.Fatalf("grew from %d to %d bytes, want %d (×1.5)", before, got, want)
			}
			for _, v := range urls {
				if !s.Has(v) {
					t.Fatalf("after growth to %d bytes, Has(%q) = false", s.Bytes(), v)
				}
			}
		}
		if s.Len()*4 > s.Bytes()/8*3 {
			t.Fatalf("load factor %d/%d above 3/4", s.Len(), s.Bytes()/8)
		}
		if s.Len() > 16 && s.Bytes() > 16*s.Len() {
			t.Fatalf("%d bytes for %d entries: more than 16 per entry", s.Bytes(), s.Len())
		}
	}
	t.Logf("grew %d times from %d to %d bytes", grows, startBytes, s.Bytes())
	if grows < 10 {
		t.Errorf("grew only %d times", grows)
	}
}

func TestNewSized(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 5, 6, 7, 100, 1000, 1_000_000} {
		s := New(n)
		b := s.Bytes()
		for i := range n {
			s.AddFingerprint(uint64(i) + 1)
		}
		if s.Bytes() != b {
			t.Errorf("New(%d) grew from %d to %d bytes while filled with %d entries", n, b, s.Bytes(), n)
		}
		if n >= 1000 && float64(b)/float64(n) > 10.7 {
			t.Errorf("New(%d): %.2f bytes per entry, want about 10.67", n, float64(b)/float64(n))
		}
	}
}

func TestZeroValue(t *testing.T) {
	var s Set
	if s.Has("a") || s.Len() != 0 || s.Bytes() != 0 {
		t.Fatal("zero Set is not empty")
	}
	s.Reset()
	if !s.Add("a") || s.Add("a") || !s.Has("a") || s.Has("b") || s.Len() != 1 {
		t.Fatal("zero Set does not work as a set")
	}
}

func TestReset(t *testing.T) {
	s := New(0)
	for i := range 10_000 {
		s.Add(makeURL(i))
	}
	b := s.Bytes()
	s.Reset()
	if s.Len() != 0 {
		t.Errorf("Len() = %d after Reset", s.Len())
	}
	if s.Bytes() != b {
		t.Errorf("Bytes() = %d after Reset, want %d (memory kept)", s.Bytes(), b)
	}
	for i := range 10_000 {
		if s.Has(makeURL(i)) {
			t.Fatalf("Has(%q) after Reset", makeURL(i))
		}
	}
	for i := range 10_000 {
		if !s.Add(makeURL(i)) {
			t.Fatalf("Add(%q) = false after Reset", makeURL(i))
		}
	}
	if s.Len() != 10_000 || s.Bytes() != b {
		t.Errorf("after refilling: Len() = %d, Bytes() = %d; want 10000, %d", s.Len(), s.Bytes(), b)
	}
}

func TestAddNoAlloc(t *testing.T) {
	s := New(1000)
	urls := make([]string, 1000)
	for i := range urls {
		urls[i] = makeURL(i)
	}
	i := 0
	allocs := testing.AllocsPerRun(len(urls)-1, func() {
		s.Add(urls[i])
		s.Has(urls[i])
		i++
	})
	if allocs != 0 {
		t.Errorf("Add+Has allocate %v times per call", allocs)
	}
}

// TestTenMillion adds 10 million short URLs to a set grown from empty and
// checks the memory per URL, both as Bytes reports it and as the heap grows.
func TestTenMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	const n = 10_000_000
	start := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s := New(0)
	buf := make([]byte, 0, 64)
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "https://example.com/page/"...), int64(i), 10)
		if !s.Add(string(buf)) {
			t.Fatalf("Add(%q) = false for a new URL", buf)
		}
	}
	built := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	for i := 0; i < n; i += 9973 {
		buf = strconv.AppendInt(append(buf[:0], "https://example.com/page/"...), int64(i), 10)
		if !s.Has(string(buf)) {
			t.Fatalf("Has(%q) = false", buf)
		}
	}

	perURL := float64(s.Bytes()) / float64(s.Len())
	heapPerURL := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%d URLs in %v: Bytes() = %d (%.2f bytes/URL), HeapAlloc delta %.2f bytes/URL",
		s.Len(), built.Round(time.Millisecond), s.Bytes(), perURL, heapPerURL)
	if s.Len() != n {
		t.Errorf("Len() = %d, want %d", s.Len(), n)
	}
	if perURL > 16 {
		t.Errorf("Bytes()/Len() = %.2f, want ≤ 16", perURL)
	}
	if heapPerURL > 16.5 {
		t.Errorf("heap grew by %.2f bytes/URL, want about Bytes()/Len()", heapPerURL)
	}
	runtime.KeepAlive(s)
}

func TestValues(t *testing.T) {
	s := NewWithValues(0)
	const n = 5000 // grows the table several times
	for i := range n {
		if !s.SetValue(Fingerprint(makeURL(i)), uint8(i)) {
			t.Fatalf("SetValue of new URL %d reported it present", i)
		}
	}
	for i := range n {
		if s.SetValue(Fingerprint(makeURL(i)), uint8(i+1)) {
			t.Fatalf("SetValue of present URL %d reported it absent", i)
		}
	}
	for i := range n {
		if v, ok := s.Value(Fingerprint(makeURL(i))); !ok || v != uint8(i+1) {
			t.Fatalf("Value of URL %d = %d, %v; want %d, true", i, v, ok, uint8(i+1))
		}
	}
	if v, ok := s.Value(Fingerprint(makeURL(n))); ok || v != 0 {
		t.Errorf("Value of an absent URL = %d, %v", v, ok)
	}
	if got, want := s.Bytes(), 9*len(s.slots); got != want {
		t.Errorf("Bytes() = %d, want %d (9 per slot)", got, want)
	}
	s.Reset()
	if _, ok := s.Value(Fingerprint(makeURL(0))); ok {
		t.Error("Value after Reset: present")
	}
	// A set without values keeps membership only.
	var plain Set
	plain.SetValue(7, 3)
	if v, ok := plain.Value(7); !ok || v != 0 {
		t.Errorf("Value in a set without values = %d, %v; want 0, true", v, ok)
	}
}
