package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crawld/crawld/queue"
)

// dirSize sums the sizes of the files under dir: all of them, and the
// write-ahead logs (*.log) among them.
func dirSize(tb testing.TB, dir string) (total, logs int64) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if strings.HasSuffix(path, ".log") {
			logs += info.Size()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return total, logs
}

// words make up the paths of realisticURL.
var words = strings.Fields(`news sport world local about contact blog post
	article review guide how why best new old city river market garden music
	travel food health money science video photo story green blue winter summer`)

// realisticURL returns a URL of about 60 bytes on one of 100 hosts, with a
// path of words and a number that vary as a site's would.
func realisticURL(i int) queue.Item {
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	word := func() string {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		return words[x>>40%uint64(len(words))]
	}
	host := fmt.Sprintf("www.site%03d.example.com", i%100)
	url := fmt.Sprintf("https://%s/%s/%s-%s-%s-%d", host, word(), word(), word(), word(), i)
	return queue.Item{URL: url, Host: host}
}

func BenchmarkAdd(b *testing.B) {
	f := mustOpen(b, b.TempDir(), unlimited)
	defer mustClose(b, f)
	ctx := context.Background()
	its := make([]queue.Item, b.N)
	for i := range its {
		its[i] = realisticURL(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, it := range its {
		if _, err := f.Add(ctx, it, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAddGetDone times b.N rounds of Add, Get and Done on f, with the
// URLs realisticURL(first), realisticURL(first+1)…
func benchAddGetDone(b *testing.B, f *Frontier, first int) {
	ctx := context.Background()
	its := make([]queue.Item, b.N)
	for i := range its {
		its[i] = realisticURL(first + i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, it := range its {
		if _, err := f.Add(ctx, it, 0); err != nil {
			b.Fatal(err)
		}
		got, err := f.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		f.Done(got)
	}
}

func BenchmarkAddGetDone(b *testing.B) {
	f := mustOpen(b, b.TempDir(), unlimited)
	defer mustClose(b, f)
	benchAddGetDone(b, f, 0)
}

// BenchmarkDiskSize Adds 100,000 URLs of about 60 bytes on 100 hosts, then
// Closes ("queued"), or first Gets and Dones all of them ("drained", the seen
// set alone), and reports the size of the directory: per URL and per 100k
// URLs, and how much of it is write-ahead log (a fixed cost rather than one
// per URL: the log of the memtable not yet flushed, up to 4 MiB, and logs kept
// for recycling). It then reopens the store, flushes and compacts it, and
// reports the size the tables settle at per URL ("settled-B/URL").
func BenchmarkDiskSize(b *testing.B) {
	const urls = 100_000
	for _, drained := range []bool{false, true} {
		name := "queued"
		if drained {
			name = "drained"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var size, logs, settled int64
			for range b.N {
				dir := b.TempDir()
				f := mustOpen(b, dir, unlimited)
				length := 0
				for i := range urls {
					it := realisticURL(i)
					length += len(it.URL)
					if _, err := f.Add(ctx, it, 0); err != nil {
						b.Fatal(err)
					}
				}
				if drained {
					for range urls {
						it, err := f.Get(ctx)
						if err != nil {
							b.Fatal(err)
						}
						f.Done(it)
					}
				}
				mustClose(b, f)
				size, logs = dirSize(b, dir)

				b.StopTimer()
				f = mustOpen(b, dir, unlimited)
				if err := f.db.Flush(); err != nil {
					b.Fatal(err)
				}
				if err := f.db.Compact(ctx, []byte{0}, []byte{0xff}, false); err != nil {
					b.Fatal(err)
				}
				mustClose(b, f)
				total, logs := dirSize(b, dir)
				settled = total - logs
				b.StartTimer()
				b.ReportMetric(float64(length)/urls, "URL-bytes")
			}
			b.ReportMetric(float64(size)/urls, "bytes/URL")
			b.ReportMetric(float64(size)/(1<<20), "MiB/100kURLs")
			b.ReportMetric(float64(logs)/(1<<20), "MiB-of-WAL")
			b.ReportMetric(float64(settled)/urls, "settled-B/URL")
		})
	}
}

// BenchmarkAddGetDoneBacklog Adds, Gets and Dones one item per op on a
// Frontier holding a backlog of 20,000 items on 100 hosts, with no memory
// limit and with a 256 KiB one (about 1,300 items), under which nearly the
// whole backlog stays on disk and each Get reads its item back.
func BenchmarkAddGetDoneBacklog(b *testing.B) {
	const backlog = 20_000
	for _, limit := range []int64{0, 256 << 10} {
		b.Run(fmt.Sprint("limit=", limit), func(b *testing.B) {
			cfg := unlimited
			cfg.MemoryLimit = limit
			f := mustOpen(b, b.TempDir(), cfg)
			defer mustClose(b, f)
			ctx := context.Background()
			for i := range backlog {
				if _, err := f.Add(ctx, realisticURL(i), 0); err != nil {
					b.Fatal(err)
				}
			}
			benchAddGetDone(b, f, backlog)
			b.StopTimer()
			s := f.Stats()
			if limit > 0 && s.Spilled == 0 {
				b.Fatalf("nothing spilled: %+v", s)
			}
			b.ReportMetric(float64(s.MemoryBytes)/1024, "KiB-in-memory")
		})
	}
}
