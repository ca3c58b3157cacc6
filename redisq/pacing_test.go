package redisq

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
)

// Politeness is kept on Redis's clock across nodes: replaying the hand-out
// times through x/time/rate's limiter finds no early start.
func TestGCRAAcrossNodes(t *testing.T) {
	for _, burst := range []int{1, 3} {
		t.Run(fmt.Sprintf("burst%d", burst), func(t *testing.T) {
			s := startRedis(t)
			var log claimLog
			pol := func(o *Options) {
				o.Config = queue.Config{Rate: 10, Burst: burst, PerHostConcurrency: 8}
				log.hook(o)
			}
			a, b := openNode(t, s, "gcra", pol), openNode(t, s, "gcra", pol)
			const n = 15
			for i := range n {
				mustAdd(t, a, item("h", i), 0, queue.Added)
			}
			start := time.Now()
			drain(t, []*Frontier{a, b}, 4, n, nil)
			elapsed := time.Since(start)

			slices.Sort(log.at)
			lim := rate.NewLimiter(10, burst)
			const eps = 5 * time.Microsecond // x/time/rate's float rounding
			for i, at := range log.at {
				if !lim.AllowN(time.UnixMicro(at).Add(eps), 1) {
					t.Errorf("start %d at +%dµs is early for rate 10/s burst %d", i, at-log.at[0], burst)
				}
			}
			minGap := time.Hour
			for i := burst; i < len(log.at); i++ {
				minGap = min(minGap, time.Duration(log.at[i]-log.at[i-1])*time.Microsecond)
			}
			if burst == 1 && minGap < 100*time.Millisecond {
				t.Errorf("min gap on Redis's clock %v < 100ms", minGap)
			}
			// Local clock: hand-outs seen by the two processes, same machine.
			// The local times lag the claims by a time that varies with
			// the machine's load: one interval of it is allowed.
			if v := testsite.PaceViolation(log.loc, 100*time.Millisecond, 100*time.Millisecond); burst == 1 && v != "" {
				t.Errorf("on the local clock: %s", v)
			}
			// How fast the claims come is load's and the benchmarks'
			// business; the test asserts only that none is early.
			ideal := time.Duration(n-burst) * 100 * time.Millisecond
			t.Logf("burst %d: %d starts in %v (ideal %v), min gap Redis %v", burst, n, elapsed.Round(time.Millisecond), ideal, minGap)
		})
	}
}

// PerHostConcurrency 1 holds across nodes: never two items of a host
// leased at once.
func TestPerHostConcurrencyAcrossNodes(t *testing.T) {
	s := startRedis(t)
	pol := func(o *Options) { o.Config = queue.Config{PerHostConcurrency: 1} }
	a, b := openNode(t, s, "cap", pol), openNode(t, s, "cap", pol)
	hosts := []string{"x", "y", "z"}
	const per = 20
	for i := range per {
		for _, h := range hosts {
			mustAdd(t, a, item(h, i), 0, queue.Added)
		}
	}
	var mu sync.Mutex
	inFlight, maxIn, seen := map[string]int{}, map[string]int{}, map[string]int{}
	drain(t, []*Frontier{a, b}, 4, per*len(hosts), func(it queue.Item) {
		mu.Lock()
		inFlight[it.Host]++
		maxIn[it.Host] = max(maxIn[it.Host], inFlight[it.Host])
		seen[it.URL]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		inFlight[it.Host]--
		mu.Unlock()
	})
	for _, h := range hosts {
		if maxIn[h] != 1 {
			t.Errorf("host %s: %d in flight at once", h, maxIn[h])
		}
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s handed out %d times", u, n)
		}
	}
	if len(seen) != per*len(hosts) {
		t.Errorf("%d distinct items, want %d", len(seen), per*len(hosts))
	}
}

// Block and Unblock set on one node hold for the other.
func TestBlockAcrossNodes(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "block", nil), openNode(t, s, "block", nil)
	a.Block(context.Background(), "h", time.Now().Add(400*time.Millisecond))
	a.Block(context.Background(), "h", time.Now().Add(50*time.Millisecond)) // never shortens
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	start := time.Now()
	it := mustGet(t, b)
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("Get returned after %v of a 400ms block", d)
	}
	b.Done(it)

	// Blocked for an hour: a Get that returns within 20 s (far longer
	// than a busy machine needs) was let go by the Unblock.
	a.Block(context.Background(), "h", time.Now().Add(time.Hour))
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	go func() {
		time.Sleep(100 * time.Millisecond)
		a.Unblock(context.Background(), "h")
	}()
	start = time.Now()
	it = mustGet(t, b)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Get after Unblock took %v", d)
	}
	b.Done(it)
	if st := freshStats(t, a); st.Queued != 0 || st.Hosts != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if a.Err() != nil {
		t.Fatal(a.Err())
	}
}

// SetInterval on one node paces the host for the other.
func TestSetIntervalAcrossNodes(t *testing.T) {
	s := startRedis(t)
	var log claimLog
	a, b := openNode(t, s, "iv", nil), openNode(t, s, "iv", log.hook)
	a.SetInterval(context.Background(), "h", 200*time.Millisecond)
	for i := range 4 {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	for range 4 {
		b.Done(mustGet(t, b))
	}
	for i := 1; i < len(log.at); i++ {
		if gap := log.at[i] - log.at[i-1]; gap < 200_000 {
			t.Errorf("gap %dµs < interval 200ms", gap)
		}
	}
	// Cleared: back to the (unlimited) configured rate. An interval of an
	// hour set first and left in place would hold the second Get past
	// mustGet's bound; a busy machine cannot.
	a.SetInterval(context.Background(), "h", time.Hour)
	a.SetInterval(context.Background(), "h", 0)
	mustAdd(t, a, item("h", 10), 0, queue.Added)
	mustAdd(t, a, item("h", 11), 0, queue.Added)
	b.Done(mustGet(t, b))
	b.Done(mustGet(t, b))
}
