package redisq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
)

// defaultPoliteness leaves hosts unpaced with room for many items in
// flight, so that tests of other things are not slowed by politeness.
var defaultPoliteness = queue.Config{PerHostConcurrency: 100}

func item(host string, i int) queue.Item {
	return queue.Item{URL: fmt.Sprintf("http://%s/p%d", host, i), Host: host}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustAdd(t *testing.T, f *Frontier, it queue.Item, limit int, want queue.Admission) {
	t.Helper()
	got, err := f.Add(ctxT(t, 5*time.Second), it, limit)
	if err != nil || got != want {
		t.Fatalf("Add(%s) = %v, %v; want %v", it.URL, got, err, want)
	}
}

// freshStats returns f's Stats after a reading made now, for the tests
// that look at the counts right after a change, not a heartbeat later.
func freshStats(tb testing.TB, f *Frontier) queue.Stats {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.refresh(ctx); err != nil {
		tb.Fatalf("read stats: %v", err)
	}
	return f.Stats()
}

func mustGet(t *testing.T, f *Frontier) queue.Item {
	t.Helper()
	it, err := f.Get(ctxT(t, 30*time.Second)) // bounds a hang
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return it
}

func TestRecordRoundTrip(t *testing.T) {
	in := queue.Item{URL: "http://a.example/x?y=|\n", Host: "a.example", Depth: 7, Kind: queue.KindSitemap,
		Redirects: 2, Origin: "http://a.example/o", Attempt: 3, ID: 99}
	out, err := decode(string(encode(in)), in.Host, 99)
	if err != nil || out != in {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
	}
	in.Via = "http://a.example/b http://a.example/c"
	out, err = decode(string(encode(in)), in.Host, 99)
	if err != nil || out != in {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
	}
	if _, err := decode("\x01", "h", 1); err == nil {
		t.Error("truncated record decoded")
	}
}

// Add dedupes across nodes, items keep their fields, each host is FIFO and
// Join returns once everything is Done.
func TestAddDedupeFIFOJoin(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "fifo", nil)
	b := openNode(t, s, "fifo", nil)
	for i := range 5 {
		it := item("a", i)
		it.Depth, it.Origin, it.Attempt, it.Redirects = i, "http://o/", 1, 2
		mustAdd(t, a, it, 0, queue.Added)
		mustAdd(t, b, item("b", i), 0, queue.Added)
	}
	mustAdd(t, b, item("a", 3), 0, queue.Duplicate)
	mustAdd(t, a, item("b", 0), 0, queue.Duplicate)
	if st := freshStats(t, a); st.Queued != 10 || st.Seen != 10 || st.Hosts != 2 || st.InFlight != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	next := map[string]int{}
	var got []queue.Item
	for range 10 {
		f := a
		if len(got)%2 == 1 {
			f = b
		}
		it := mustGet(t, f)
		want := item(it.Host, next[it.Host])
		if it.URL != want.URL || it.ID == 0 {
			t.Fatalf("got %+v, want %s next", it, want.URL)
		}
		if it.Host == "a" && (it.Depth != next["a"] || it.Origin != "http://o/" || it.Attempt != 1 || it.Redirects != 2) {
			t.Fatalf("fields lost: %+v", it)
		}
		next[it.Host]++
		got = append(got, it)
	}
	if st := freshStats(t, b); st.Queued != 0 || st.InFlight != 10 {
		t.Fatalf("Stats with all leased = %+v", st)
	}
	short, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := a.Join(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with leases out = %v", err)
	}
	for i, it := range got {
		if i%2 == 0 {
			a.Done(it)
		} else {
			b.Done(it)
		}
	}
	if err := b.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if a.Err() != nil || b.Err() != nil || a.Stale()+b.Stale() != 0 {
		t.Fatalf("Err %v %v, stale %d %d", a.Err(), b.Err(), a.Stale(), b.Stale())
	}
}

// Put counts every item, seen or not, and Join waits for all of them.
func TestPutCounts(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "put", nil)
	b := openNode(t, s, "put", nil)
	it := item("h", 1)
	for range 2 {
		if err := a.Put(ctxT(t, 5*time.Second), it); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(t, a, it, 0, queue.Added) // Put does not mark seen
	x, y, z := mustGet(t, b), mustGet(t, b), mustGet(t, a)
	if x.URL != it.URL || y.URL != it.URL || z.URL != it.URL || x.ID == y.ID {
		t.Fatalf("got %+v %+v %+v", x, y, z)
	}
	b.Done(x)
	b.Done(y)
	joined := make(chan error, 1)
	go func() { joined <- b.Join(ctxT(t, 5*time.Second)) }()
	select {
	case err := <-joined:
		t.Fatalf("Join returned %v with an item in flight on the other node", err)
	case <-time.After(300 * time.Millisecond):
	}
	a.Done(z)
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
}

// Two nodes share one budget: exactly limit Adds are admitted in total.
func TestSharedBudget(t *testing.T) {
	s := startRedis(t)
	nodes := []*Frontier{openNode(t, s, "budget", nil), openNode(t, s, "budget", nil)}
	const limit = 50
	var added, over atomic.Int64
	var wg sync.WaitGroup
	for n, f := range nodes {
		for g := range 4 {
			wg.Go(func() {
				for i := range 40 {
					a, err := f.Add(context.Background(), item(fmt.Sprintf("h%d", g), n*1000+i), limit)
					if err != nil {
						t.Error(err)
						return
					}
					switch a {
					case queue.Added:
						added.Add(1)
					case queue.OverLimit:
						over.Add(1)
					default:
						t.Errorf("admission %v", a)
					}
				}
			})
		}
	}
	wg.Wait()
	if added.Load() != limit || over.Load() != 2*4*40-limit {
		t.Fatalf("added %d, over limit %d; want %d, %d", added.Load(), over.Load(), limit, 2*4*40-limit)
	}
	// Uncounted Adds (limit 0) still go in; an over-limit URL was not marked seen.
	mustAdd(t, nodes[0], item("x", 1), 0, queue.Added)
	if st := freshStats(t, nodes[1]); st.Queued != limit+1 || st.Seen != limit+1 {
		t.Fatalf("Stats = %+v", st)
	}
}

// The per-host cap is the crawl's: two nodes adding concurrently admit
// hostLimit items of each host in all; the budget still applies, a refused
// URL is not marked seen, and a Put does not count.
func TestSharedHostCap(t *testing.T) {
	s := startRedis(t)
	nodes := []*Frontier{openNode(t, s, "hostcap", nil), openNode(t, s, "hostcap", nil)}
	const hostLimit = 7
	var mu sync.Mutex
	added := map[string]int{}
	var wg sync.WaitGroup
	for n, f := range nodes {
		for g := range 3 {
			wg.Go(func() {
				host := fmt.Sprintf("h%d", g)
				for i := range 20 {
					a, err := admitOne(f, item(host, n*1000+i), 0, hostLimit)
					if err != nil {
						t.Error(err)
						return
					}
					switch a {
					case queue.Added:
						mu.Lock()
						added[host]++
						mu.Unlock()
					case queue.OverHostLimit:
					default:
						t.Errorf("admission %v", a)
					}
				}
			})
		}
	}
	wg.Wait()
	for g := range 3 {
		if n := added[fmt.Sprintf("h%d", g)]; n != hostLimit {
			t.Errorf("host h%d: %d added by two nodes, want %d", g, n, hostLimit)
		}
	}
	// Refused URLs were not marked seen: with a higher cap they go in.
	mustAdmit(t, nodes[1], item("h0", 19), 0, hostLimit+1, queue.Added)
	mustAdmit(t, nodes[1], item("h0", 18), 0, hostLimit+1, queue.OverHostLimit)
	mustAdmit(t, nodes[1], item("h0", 19), 0, hostLimit+1, queue.Duplicate)
	// The budget is checked too, and Put counts toward neither.
	if err := nodes[0].Put(context.Background(), item("h9", 1)); err != nil {
		t.Fatal(err)
	}
	mustAdmit(t, nodes[0], item("h9", 2), 1, 1, queue.Added)
	mustAdmit(t, nodes[0], item("h9", 3), 0, 1, queue.OverHostLimit)
	mustAdmit(t, nodes[0], item("h8", 1), 1, 5, queue.OverLimit)
}

// admitOne admits it alone under the caps limit and hostLimit.
func admitOne(f *Frontier, it queue.Item, limit, hostLimit int) (queue.Admission, error) {
	a, err := f.Admit(context.Background(), []queue.Item{it}, queue.Limits{Pages: limit, PagesPerHost: hostLimit})
	if err != nil {
		return queue.Duplicate, err
	}
	return a[0], nil
}

func mustAdmit(t *testing.T, f *Frontier, it queue.Item, limit, hostLimit int, want queue.Admission) {
	t.Helper()
	got, err := admitOne(f, it, limit, hostLimit)
	if err != nil || got != want {
		t.Fatalf("Admit(%s, %d, %d) = %v, %v; want %v", it.URL, limit, hostLimit, got, err, want)
	}
}

// claimLog records every hand-out: its Redis time, local time and item.
type claimLog struct {
	mu    sync.Mutex
	at    []int64
	loc   []time.Time
	items []queue.Item
}

func (l *claimLog) hook(o *Options) {
	o.onClaim = func(it queue.Item, now int64) {
		l.mu.Lock()
		l.at = append(l.at, now)
		l.loc = append(l.loc, time.Now())
		l.items = append(l.items, it)
		l.mu.Unlock()
	}
}

// drain runs workers goroutines on each node calling Get and Done until n
// items were handed out; hold runs between them.
func drain(t *testing.T, nodes []*Frontier, workers, n int, hold func(queue.Item)) {
	t.Helper()
	var got atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range nodes {
		for range workers {
			wg.Go(func() {
				for {
					it, err := f.Get(ctx)
					if err != nil {
						return
					}
					if hold != nil {
						hold(it)
					}
					f.Done(it)
					if got.Add(1) == int64(n) {
						cancel()
					}
				}
			})
		}
	}
	wg.Wait()
	if got.Load() != int64(n) {
		t.Fatalf("handed out %d items, want %d", got.Load(), n)
	}
}

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

// A node that dies (no heartbeat, leases left) has its leases handed back
// to the front of their hosts' lists within DeadAfter and a bit.
func TestDeadNodeLeasesHandedBack(t *testing.T) {
	s := startRedis(t)
	pol := func(o *Options) { o.Config.PerHostConcurrency = 2 }
	a, b := openNode(t, s, "dead", pol), openNode(t, s, "dead", pol)
	for i := range 4 {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	x, y := mustGet(t, a), mustGet(t, a)
	if live, err := b.LiveNodes(ctxT(t, 5*time.Second)); err != nil || len(live) != 2 {
		t.Fatalf("LiveNodes before the kill = %v, %v; want both nodes", live, err)
	}
	a.kill()
	start := time.Now()
	got := []queue.Item{mustGet(t, b), mustGet(t, b)}
	d := time.Since(start)
	t.Logf("leases of the dead node handed out again after %v (dead after 500ms, heartbeat 50ms)", d.Round(time.Millisecond))
	if got[0].URL != x.URL || got[1].URL != y.URL {
		t.Fatalf("got %s, %s; want the dead node's %s, %s first", got[0].URL, got[1].URL, x.URL, y.URL)
	}
	// Well within the lease's own expiry; a busy machine may delay the
	// dead node's detection by heartbeats, not by this much.
	if d > 20*time.Second {
		t.Fatalf("re-delivery took %v", d)
	}
	n, err := s.rdb.ZCard(context.Background(), "cd:{c:dead}:nodes").Result()
	if err != nil || n != 1 {
		t.Fatalf("nodes left: %d, %v", n, err)
	}
	if live, err := b.LiveNodes(ctxT(t, 5*time.Second)); err != nil || len(live) != 1 || live[0] != b.NodeID() {
		t.Fatalf("LiveNodes after the kill = %v, %v; want only %s", live, err, b.NodeID())
	}
	for _, it := range got {
		b.Done(it)
	}
	b.Done(mustGet(t, b))
	b.Done(mustGet(t, b))
	if err := b.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// Close hands its leases back at once, in order.
func TestCloseHandsBack(t *testing.T) {
	s := startRedis(t)
	// Never taken for dead: only Close can hand the lease back.
	alive := func(o *Options) { o.Heartbeat, o.DeadAfter = time.Hour, 2*time.Hour }
	a, b := openNode(t, s, "close", alive), openNode(t, s, "close", alive)
	for i := range 3 {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	x, y := mustGet(t, a), mustGet(t, a)
	a.Done(x)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if z := mustGet(t, b); z.URL != y.URL {
		t.Fatalf("got %s; want %s", z.URL, y.URL)
	}
	if st := freshStats(t, b); st.Queued != 1 || st.InFlight != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

// The Done of a lease that expired and was handed out again is stale: it
// is counted and does not finish the item twice.
func TestStaleDone(t *testing.T) {
	s := startRedis(t)
	short := func(o *Options) { o.LeaseTTL = 200 * time.Millisecond; o.DeadAfter = time.Hour }
	a, b := openNode(t, s, "stale", short), openNode(t, s, "stale", short)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	x := mustGet(t, a)
	stopRenewal(a)     // as if a were cut off from Redis: its lease is no longer renewed
	y := mustGet(t, b) // blocks until the lease expires; b's claim hands it back
	if y.URL != x.URL || y.ID == x.ID {
		t.Fatalf("got %+v after %+v", y, x)
	}
	a.Done(x)
	if a.Stale() != 1 || a.Err() != nil {
		t.Fatalf("stale %d, err %v", a.Stale(), a.Err())
	}
	if st := freshStats(t, a); st.Queued != 0 || st.InFlight != 1 {
		t.Fatalf("after the stale Done, Stats = %+v", st)
	}
	b.Done(y)
	if err := a.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	p, _ := s.rdb.HGet(context.Background(), "cd:{c:stale}:stats", "pending").Int()
	st, _ := s.rdb.HGet(context.Background(), "cd:{c:stale}:stats", "stale").Int()
	if p != 0 || st != 1 {
		t.Fatalf("pending %d, stale %d", p, st)
	}
}

// The same with a node taken for dead while it still runs: its late Done
// is stale.
func TestStaleDoneAfterReap(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "reap", nil), openNode(t, s, "reap", nil)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	x := mustGet(t, a)
	close(a.noBeat) // the heartbeat stops, the rest of a works on
	<-a.beatDone
	y := mustGet(t, b)
	if err := a.Finish(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if a.Stale() != 1 || y.URL != x.URL {
		t.Fatalf("stale %d, got %s", a.Stale(), y.URL)
	}
	b.Done(y)
	if err := b.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestConfigMismatch(t *testing.T) {
	s := startRedis(t)
	openNode(t, s, "cfg", nil)
	_, err := tryOpen(s, "cfg", func(o *Options) { o.ConfigHash = "cfg2" })
	if err == nil || !strings.Contains(err.Error(), "redis crawl cfg was started with a different config (filters/rate); use another crawl_id") {
		t.Fatalf("Open with another hash: %v", err)
	}
	_, err = tryOpen(s, "cfg", func(o *Options) { o.Config.Rate = 2 })
	if err == nil || !strings.Contains(err.Error(), "different config") {
		t.Fatalf("Open with another rate: %v", err)
	}
	openNode(t, s, "cfg2", func(o *Options) { o.ConfigHash = "cfg2" }) // another crawl is free
}

func TestRedisSettingsChecked(t *testing.T) {
	s := startRedis(t)
	var warned []string
	f := openNode(t, s, "w", func(o *Options) { o.Warn = func(w string) { warned = append(warned, w) } })
	if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], "appendonly") || !slices.Equal(w, warned) {
		t.Fatalf("warnings %q, Warn got %q", w, warned)
	}
	if err := s.rdb.ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := tryOpen(s, "w", nil)
	if err == nil || !strings.Contains(err.Error(), "maxmemory-policy is allkeys-lru") || !strings.Contains(err.Error(), "noeviction") {
		t.Fatalf("Open under allkeys-lru: %v", err)
	}
	s.rdb.ConfigSet(context.Background(), "maxmemory-policy", "noeviction")
	s.rdb.ConfigSet(context.Background(), "set-max-intset-entries", "128")
	g := openNode(t, s, "w", nil)
	if w := g.Warnings(); len(w) != 2 || !strings.Contains(w[1], "set-max-intset-entries is 128") {
		t.Fatalf("warnings %q", w)
	}
}

func TestClientChecks(t *testing.T) {
	s := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	defer rdb.Close()
	_, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", rdb })
	if err == nil || !strings.Contains(err.Error(), "MaxRetries: -1") {
		t.Fatalf("Open with a retrying client: %v", err)
	}
	// The cluster client resends a failed command on its redirect
	// attempts too: both must be off.
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.addr}, MaxRetries: -1})
	defer cluster.Close()
	if _, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", cluster }); err == nil || !strings.Contains(err.Error(), "MaxRedirects: -1") {
		t.Fatalf("Open with a cluster client that retries on redirect attempts: %v", err)
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": s.addr}, MaxRetries: -1})
	defer ring.Close()
	if _, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", ring }); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("Open with a ring client: %v", err)
	}
	ok := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer ok.Close()
	f := openNode(t, s, "c", func(o *Options) { o.URL, o.Client, o.NodeID = "", ok, "n1" })
	mustAdd(t, f, item("h", 1), 0, queue.Added)
	if _, err := tryOpen(s, "c", func(o *Options) { o.NodeID = "n1" }); err == nil || !strings.Contains(err.Error(), "in use by a live node") {
		t.Fatalf("second live n1: %v", err)
	}
	if _, err := tryOpen(s, "c{x}", nil); err == nil {
		t.Fatal("crawl id with braces accepted")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ok.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Close closed the caller's client: %v", err)
	}
}

// A crawl whose state vanishes (Redis restarted empty) fails loudly
// instead of starting over.
func TestStateLost(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "lost", nil)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	x := mustGet(t, a)
	if err := s.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	a.Done(x)
	if err := a.Err(); !errors.Is(err, ErrStateLost) || !strings.Contains(err.Error(), "redis: crawl state lost") {
		t.Fatalf("Err after Done = %v", err)
	}
	if _, err := a.Get(ctxT(t, time.Second)); !errors.Is(err, ErrStateLost) {
		t.Fatalf("Get = %v", err)
	}
	if err := a.Join(ctxT(t, time.Second)); !errors.Is(err, ErrStateLost) {
		t.Fatalf("Join = %v", err)
	}
	// A node coming up on the emptied Redis starts a new run of the crawl;
	// a node of the old run must not take it for its own. Its heartbeat
	// notices, with no call made.
	c := openNode(t, s, "lost2", nil)
	s.rdb.Del(context.Background(), "cd:{c:lost2}:meta")
	d := openNode(t, s, "lost2", nil)
	mustAdd(t, d, item("h", 0), 0, queue.Added)
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(c.Err(), ErrStateLost) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(c.Err(), ErrStateLost) {
		t.Fatalf("heartbeat did not notice: %v", c.Err())
	}
	if _, err := c.Add(context.Background(), item("h", 5), 0); !errors.Is(err, ErrStateLost) {
		t.Fatalf("Add on the old run's node = %v", err)
	}
	if st := freshStats(t, d); st.Queued != 1 {
		t.Fatalf("new run Stats = %+v", st)
	}
}

// Hosts' state hashes do not outlive what they record.
func TestHostStateExpires(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "exp", func(o *Options) { o.Config = queue.Config{Rate: 20, PerHostConcurrency: 1} })
	mustAdd(t, f, item("h", 0), 0, queue.Added)
	ctx := context.Background()
	if err := f.Finish(ctx, mustGet(t, f)); err != nil { // Done's ack may wait for a claim
		t.Fatal(err)
	}
	ttl, err := s.rdb.PTTL(ctx, "cd:{c:exp}:h:h").Result()
	if err != nil || ttl <= 0 || ttl > 200*time.Millisecond {
		t.Fatalf("idle host state TTL %v, %v; want about 50ms", ttl, err)
	}
	f.SetInterval(context.Background(), "h", time.Second)
	if ttl, _ := s.rdb.PTTL(ctx, "cd:{c:exp}:h:h").Result(); ttl != -1 {
		t.Fatalf("host with an interval has TTL %v; want it kept", ttl)
	}
	if n, _ := s.rdb.Exists(ctx, "cd:{c:exp}:ready", "cd:{c:exp}:active", "cd:{c:exp}:q:h", "cd:{c:exp}:lease", "cd:{c:exp}:leased").Result(); n != 0 {
		t.Fatalf("%d index keys left with nothing queued", n)
	}
}
