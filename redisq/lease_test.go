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
