package warc

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWriteExchange is the archive's cost per page: a request and a
// response of a 1.2 KB page (the throughput benchmark's size), written by
// parallel workers as the crawler does.
func BenchmarkWriteExchange(b *testing.B) {
	for _, compress := range []bool{true, false} {
		b.Run(fmt.Sprintf("compress=%v", compress), func(b *testing.B) {
			w, err := Open(Config{Dir: b.TempDir(), Node: "bench", Compress: compress, MaxSize: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			body := strings.Repeat(`<p><a href="/page/123">a link to page 123</a></p>`+"\n", 24)
			ex := exchange("http://127.0.0.2:8080/page/1", body, false)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := writeSyncing(w, ex, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkWriteExchange_Page is a page as the throughput scenario
// archives it: a 573-byte body of its own (no revisit), its metadata
// record with 7 outlinks, the CDXJ index and the digest index on, and
// the exchanges handed to the operating system by the output's flushes
// (about every 100 ms), not one by one.
func BenchmarkWriteExchange_Page(b *testing.B) {
	w, err := Open(Config{Dir: b.TempDir(), Node: "bench", Compress: true, CDXJ: true, Dedupe: true, MaxSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	var outlinks []string
	for i := range 7 {
		outlinks = append(outlinks, fmt.Sprintf("http://127.0.0.2:8080/page/%d", 1000+i))
	}
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			ex := exchange(fmt.Sprintf("http://127.0.0.2:8080/page/%d", i), fmt.Sprintf("%0573d", i), false)
			ex.Metadata = &Metadata{FetchTime: time.Millisecond, Outlinks: outlinks}
			if err := writeSyncing(w, ex, i%1000 == 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// writeSyncing writes ex to w, then, if sync, hands what w holds to the
// operating system.
func writeSyncing(w *Writer, ex Exchange, sync bool) error {
	if _, err := w.WriteExchange(context.Background(), ex); err != nil {
		return err
	}
	if sync {
		return w.Sync()
	}
	return nil
}
