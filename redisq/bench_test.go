package redisq

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

// usedMemory reads INFO memory's used_memory.
func usedMemory(tb testing.TB, s *server) int64 {
	tb.Helper()
	info, err := s.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}

// addPipelined queues n distinct URLs over hosts hosts, batch script
// calls per round trip: through the add script (seen check, one item a
// call) when seenCheck, else through the put script. With depths (f's
// MaxDepth), the URLs' depths go round 0…MaxDepth.
func addPipelined(tb testing.TB, f *Frontier, n, hosts, batch int, seenCheck bool) {
	tb.Helper()
	ctx := context.Background()
	script := putScript
	if seenCheck {
		script = addScript
	}
	if err := script.Load(ctx, f.rdb).Err(); err != nil {
		tb.Fatal(err)
	}
	for start := 0; start < n; start += batch {
		pipe := f.rdb.Pipeline()
		for i := start; i < min(start+batch, n); i++ {
			it := queue.Item{URL: "http://h" + strconv.Itoa(i%hosts) + "/" + strconv.Itoa(i), Host: "h" + strconv.Itoa(i%hosts)}
			var keys []string
			var argv []any
			switch {
			case seenCheck && f.maxDepth > 0:
				it.Depth = i % (f.maxDepth + 1)
				keys, argv = f.call(append([]any{0, 0}, f.depthArgs(it, seen.Fingerprint(it.URL))...)...)
			case seenCheck:
				keys, argv = f.call(append([]any{0, 0}, addArgs(it.Host, encode(it), seen.Fingerprint(it.URL))...)...)
			default:
				keys, argv = f.call(it.Host, encode(it), randomToken(), f.putKeep)
			}
			script.EvalSha(ctx, pipe, keys, argv...)
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range cmds {
			v := c.(*redis.Cmd).Val()
			if list, ok := v.([]any); ok && len(list) == 1 { // the add script's admissions
				v = list[0]
			}
			if c.Err() != nil || v != int64(0) {
				tb.Fatalf("add = %v, %v; want 0 (added)", v, c.Err())
			}
		}
	}
}

// bucketKey is the seen-set bucket of fingerprint fp.
func bucketKey(f *Frontier, fp uint64) string {
	return f.prefix + "s:" + strconv.FormatUint(fp>>48, 10)
}

// seenSetBytes adds n URLs through the real add script, to a crawl with
// maxDepth (0: without depths), then drops the queues (whose memory is the
// queue's, not the seen set's) and returns the growth of used_memory, and
// a bucket's encoding.
func seenSetBytes(tb testing.TB, n, maxDepth int) (float64, string) {
	s := startRedis(tb)
	f := openNode(tb, s, "m", withDepth(maxDepth))
	ctx := context.Background()
	before := usedMemory(tb, s)
	const hosts = 1000
	addPipelined(tb, f, n, hosts, 10_000, true)
	keys := []string{f.prefix + "ready", f.prefix + "active"}
	for h := range hosts {
		keys = append(keys, f.prefix+"q:h"+strconv.Itoa(h), f.prefix+"h:h"+strconv.Itoa(h))
	}
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		tb.Fatal(err)
	}
	if got := freshStats(tb, f).Seen; got != n {
		tb.Fatalf("Stats.Seen = %d, want %d", got, n)
	}
	bucket := bucketKey(f, seen.Fingerprint("http://h0/0"))
	// The pipelines leave large query buffers on the node's connections,
	// which are not the seen set's: close them before measuring.
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	after := usedMemory(tb, s)
	enc, err := s.rdb.ObjectEncoding(ctx, bucket).Result()
	if err != nil {
		tb.Fatal(err)
	}
	return float64(after-before) / float64(n), enc
}

// The seen set takes at most 16 bytes per URL at a million URLs, in
// intset buckets, also when it keeps depths (max_depth): a depth takes
// bits of the member, not bytes.
func TestSeenSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million Adds; run without -short")
	}
	for _, maxDepth := range []int{0, 5} {
		t.Run(fmt.Sprintf("max-depth-%d", maxDepth), func(t *testing.T) {
			start := time.Now()
			per, enc := seenSetBytes(t, 1_000_000, maxDepth)
			t.Logf("seen set: %.2f bytes/URL at 1M URLs (used_memory delta, queues dropped), bucket encoding %s, %v", per, enc, time.Since(start).Round(time.Millisecond))
			if per > 16 {
				t.Errorf("%.2f bytes per URL > 16", per)
			}
			if enc != "intset" {
				t.Errorf("bucket encoding %s, want intset", enc)
			}
		})
	}
}

// BenchmarkSeenSetMemory reports the seen set's bytes per URL at 1M and
// 10M URLs, without depths and with max depth 5 (select with -bench, e.g.
// 'SeenSetMemory/urls-10M').
func BenchmarkSeenSetMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		for _, maxDepth := range []int{0, 5} {
			b.Run(fmt.Sprintf("urls-%dM/max-depth-%d", n/1_000_000, maxDepth), func(b *testing.B) {
				if testing.Short() && n > 1_000_000 {
					b.Skip("10 million Adds take minutes; run without -short")
				}
				for b.Loop() {
					per, _ := seenSetBytes(b, n, maxDepth)
					b.ReportMetric(per, "B/URL")
				}
			})
		}
	}
}

// BenchmarkAdd: one Add (a round trip of the add script) of a new URL per
// op, over 1000 hosts; without depths, and with max depth 5 and 63 (the
// add script then looks for 2 × (max depth + 1) members per URL).
func BenchmarkAdd(b *testing.B) {
	for _, maxDepth := range []int{0, 5, MaxDepthKept} {
		b.Run(fmt.Sprintf("max-depth-%d", maxDepth), func(b *testing.B) {
			s := startRedis(b)
			f := openNode(b, s, "badd", withDepth(maxDepth))
			ctx := context.Background()
			i := 0
			for b.Loop() {
				it := queue.Item{URL: fmt.Sprintf("http://h%d/%d", i%1000, i), Host: fmt.Sprintf("h%d", i%1000)}
				if maxDepth > 0 {
					it.Depth = i % (maxDepth + 1)
				}
				if a, err := f.Add(ctx, it, 0); err != nil || a != queue.Added {
					b.Fatal(a, err)
				}
				i++
			}
		})
	}
}

// BenchmarkClaimAck: one Get and one Done per op over 1000 hosts queued
// beforehand, unlimited rate; without depths (the items Put), and with
// max depth 5 (the items added, so that each claim finds its URL's depth
// and notes it handed out).
func BenchmarkClaimAck(b *testing.B) {
	for _, maxDepth := range []int{0, 5} {
		b.Run(fmt.Sprintf("max-depth-%d", maxDepth), func(b *testing.B) {
			s := startRedis(b)
			f := openNode(b, s, "bclaim", withDepth(maxDepth))
			addPipelined(b, f, b.N, 1000, 10_000, maxDepth > 0)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				it, err := f.Get(ctx)
				if err != nil {
					b.Fatal(err)
				}
				f.Done(it)
			}
			b.StopTimer()
			if err := f.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
