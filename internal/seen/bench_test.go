package seen

import (
	"runtime"
	"strconv"
	"testing"
)

// benchPool is the number of distinct 60-byte URLs the Add and Has
// benchmarks cycle through: a table of 1.4M slots (11 MiB), larger than the
// CPU caches, as a real crawl's is.
const benchPool = 1 << 20

func benchURLs(b *testing.B) []string {
	b.Helper()
	urls := make([]string, benchPool)
	for i := range urls {
		urls[i] = makeURL(i)
	}
	return urls
}

// BenchmarkAdd measures adding a new URL to a set sized for the pool; the
// set is Reset (keeping its memory) each time the pool is used up.
func BenchmarkAdd(b *testing.B) {
	urls := benchURLs(b)
	s := New(benchPool)
	b.ReportAllocs()
	b.SetBytes(urlLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % benchPool
		if j == 0 && i > 0 {
			s.Reset()
		}
		if !s.Add(urls[j]) {
			b.Fatal("Add of a new URL returned false")
		}
	}
}

// BenchmarkAddGrowing is BenchmarkAdd for a set grown from New(0): the cost
// of growing the table is included, amortized.
func BenchmarkAddGrowing(b *testing.B) {
	urls := benchURLs(b)
	s := New(0)
	b.ReportAllocs()
	b.SetBytes(urlLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % benchPool
		if j == 0 && i > 0 {
			s = New(0)
		}
		s.Add(urls[j])
	}
}

// BenchmarkAddPresent measures Add of a URL already present.
func BenchmarkAddPresent(b *testing.B) {
	urls := benchURLs(b)
	s := New(benchPool)
	for _, u := range urls {
		s.Add(u)
	}
	b.ReportAllocs()
	b.SetBytes(urlLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Add(urls[i%benchPool]) {
			b.Fatal("Add of a present URL returned true")
		}
	}
}

// BenchmarkHas measures Has on a full set (load 3/4), for URLs present and
// absent.
func BenchmarkHas(b *testing.B) {
	urls := benchURLs(b)
	s := New(benchPool / 2)
	for _, u := range urls[:benchPool/2] {
		s.Add(u)
	}
	for _, bc := range []struct {
		name string
		off  int
		want bool
	}{{"present", 0, true}, {"absent", benchPool / 2, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(urlLen)
			for i := 0; i < b.N; i++ {
				if s.Has(urls[bc.off+i%(benchPool/2)]) != bc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// BenchmarkFingerprint measures Fingerprint on 60-byte URLs.
func BenchmarkFingerprint(b *testing.B) {
	urls := make([]string, 1024)
	for i := range urls {
		urls[i] = makeURL(i * 7919)
	}
	b.ReportAllocs()
	b.SetBytes(urlLen)
	b.ResetTimer()
	var x uint64
	for i := 0; i < b.N; i++ {
		x += Fingerprint(urls[i%len(urls)])
	}
	sinkU64 = x
}

var sinkU64 uint64

// BenchmarkBytesPerURL builds a set of 10 million short URLs
// ("https://example.com/page/%d") from New(0) and reports its size per URL,
// as Bytes reports it and as the live heap grew, and the time per URL
// (Fingerprint, Add and the growth of the table). Run it once:
// -benchtime=1x.
func BenchmarkBytesPerURL(b *testing.B) { benchBytesPerURL(b, func() *Set { return New(0) }) }

// BenchmarkBytesPerURLWithValues is BenchmarkBytesPerURL for a set that
// keeps a byte with each URL (NewWithValues), as the frontier's seen set
// does with max_depth; each URL is added with SetValue.
func BenchmarkBytesPerURLWithValues(b *testing.B) {
	benchBytesPerURL(b, func() *Set { return NewWithValues(0) })
}

func benchBytesPerURL(b *testing.B, newSet func() *Set) {
	const n = 10_000_000
	buf := make([]byte, 0, 64)
	var perURL, heapPerURL float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newSet()
		for i := range n {
			// At most 32 bytes: string(buf) needs no allocation.
			buf = strconv.AppendInt(append(buf[:0], "https://example.com/page/"...), int64(i), 10)
			if s.vals != nil {
				s.SetValue(Fingerprint(string(buf)), uint8(i))
			} else {
				s.Add(string(buf))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.Len() != n {
			b.Fatalf("Len() = %d, want %d", s.Len(), n)
		}
		perURL = float64(s.Bytes()) / float64(s.Len())
		heapPerURL = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perURL, "bytes/URL")
	b.ReportMetric(heapPerURL, "heap-bytes/URL")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/URL")
}
