package warc

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
					if _, err := w.WriteExchange(context.Background(), ex); err != nil {
						b.Error(err)
						return
					}
					if err := w.Sync(); err != nil {
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
