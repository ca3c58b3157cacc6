package redisq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

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
	for _, via := range []string{"", "http://a.example/b"} {
		in.Via, in.Referrer = via, "http://a.example/"
		rec := encode(in)
		out, err = decode(string(rec), in.Host, 99)
		if err != nil || out != in {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
		}
		// The scripts read the kind after the version and the depth.
		if rec[0] != recVersionRef || queue.Kind(rec[2]) != in.Kind {
			t.Errorf("record %q: version %d, kind byte %d", rec, rec[0], rec[2])
		}
		if _, err := decode(string(rec[:len(rec)-len(in.URL)-3]), "h", 1); err == nil {
			t.Error("record cut in its referrer decoded")
		}
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
