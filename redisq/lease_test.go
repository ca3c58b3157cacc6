package redisq

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

// stopRenewal stops f's heartbeat alone, as if f were cut off from Redis:
// its leases are no longer renewed, the rest of f works on.
func stopRenewal(f *Frontier) {
	close(f.noBeat)
	<-f.beatDone
}

// An item held without Done for several lease TTLs (a slow fetch, a long
// robots.txt wait) keeps its lease: the heartbeat renews it, so another
// node is handed neither the item nor, past the host's in-flight cap of
// one, the host's next item; and the holder's Done is not stale.
func TestLeaseRenewedWhileHeld(t *testing.T) {
	s := startRedis(t)
	const ttl = time.Second
	pol := func(o *Options) {
		o.Config = queue.Config{PerHostConcurrency: 1}
		o.LeaseTTL = ttl
		o.Heartbeat = 100 * time.Millisecond
		o.DeadAfter = time.Hour // only the lease's own expiry could hand it back
	}
	a, b := openNode(t, s, "renew", pol), openNode(t, s, "renew", pol)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	x := mustGet(t, a)
	ctx := ctxT(t, 30*time.Second)
	key := "cd:{c:renew}:lease"
	id := strconv.FormatUint(x.ID, 10)
	first, err := s.rdb.ZScore(ctx, key, id).Result()
	if err != nil {
		t.Fatal(err)
	}

	// b tries to claim for four TTLs (Redis's clock: the wait is measured
	// against the lease's own expiry, not asserted on the local clock).
	hold, cancel := context.WithTimeout(ctx, 4*ttl)
	it, err := b.Get(hold)
	cancel()
	if err == nil {
		t.Fatalf("b was handed %s (lease %d) while a held %s for less than 4 lease TTLs", it.URL, it.ID, x.URL)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	now, err := s.rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if held := now.UnixMicro() - (int64(first) - ttl.Microseconds()); held < 3*ttl.Microseconds() {
		t.Fatalf("x held only %v on Redis's clock; the test needs more than 3 TTLs", time.Duration(held)*time.Microsecond)
	}
	last, err := s.rdb.ZScore(ctx, key, id).Result()
	if err != nil {
		t.Fatalf("a's lease on %s is gone after 4 TTLs: %v", x.URL, err)
	}
	t.Logf("renewals moved the lease's expiry %v later", time.Duration(last-first)*time.Microsecond)

	a.Done(x)
	y := mustGet(t, b)
	if y.URL != item("h", 1).URL {
		t.Fatalf("b got %s after a's Done; want %s", y.URL, item("h", 1).URL)
	}
	b.Done(y)
	if err := b.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Stale() != 0 || b.Stale() != 0 || a.Err() != nil || b.Err() != nil {
		t.Fatalf("stale %d %d, err %v %v", a.Stale(), b.Stale(), a.Err(), b.Err())
	}
	if n := stat(t, s, "renew", "requeued"); n != 0 {
		t.Fatalf("%d leases handed back; want 0", n)
	}
}

// A node that crashes holding an item stops renewing its lease, which
// then expires (here with the dead-node timeout out of reach): the item
// is handed to another node, not lost.
func TestCrashedNodeLeaseExpires(t *testing.T) {
	s := startRedis(t)
	pol := func(o *Options) {
		o.Config = queue.Config{PerHostConcurrency: 1}
		o.LeaseTTL = 300 * time.Millisecond
		o.DeadAfter = time.Hour
	}
	a, b := openNode(t, s, "crash", pol), openNode(t, s, "crash", pol)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	x := mustGet(t, a)
	a.kill()
	start := time.Now()
	y, err := b.Get(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the crashed node's lease was handed out again after %v (lease TTL 300ms)", time.Since(start).Round(time.Millisecond))
	if y.URL != x.URL || y.ID == x.ID {
		t.Fatalf("b got %+v; want %s under a new lease", y, x.URL)
	}
	b.Done(y)
	if err := b.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
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
