package redisq

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

// noAckLoop keeps a Done's ack waiting for a claim or an explicit flush:
// the ack loop would send it only after an hour.
func noAckLoop(o *Options) { o.ackWait = time.Hour }

// buffered returns how many of f's acks wait to be sent.
func buffered(f *Frontier) int {
	return f.acks.len()
}

// stat reads a counter of crawl's stats hash.
func stat(t *testing.T, s *server, crawl, name string) int64 {
	t.Helper()
	n, _ := s.rdb.HGet(context.Background(), "cd:{c:"+crawl+"}:stats", name).Int64()
	return n
}

// A Done only buffered keeps Join waiting (its item is still pending), and
// Join sends it rather than hanging.
func TestJoinFlushesBufferedAcks(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "ackjoin", noAckLoop)
	for i := range 3 {
		mustAdd(t, f, item("h", i), 0, queue.Added)
	}
	x, y, z := mustGet(t, f), mustGet(t, f), mustGet(t, f)
	f.Done(x)
	f.Done(y)
	if n := buffered(f); n != 2 {
		t.Fatalf("%d acks buffered, want 2", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := f.Join(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with an item leased = %v; want it to wait", err)
	}
	if n, d := buffered(f), stat(t, s, "ackjoin", "done"); n != 0 || d != 2 {
		t.Fatalf("after Join: %d acks buffered, %d done; want 0, 2", n, d)
	}
	joined := make(chan error, 1)
	go func() { joined <- f.Join(ctxT(t, 60*time.Second)) }()
	time.Sleep(50 * time.Millisecond)
	f.Done(z) // only buffered, with no ack loop: Join must not hang on it
	select {
	case err := <-joined:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // bounds a hang
		t.Fatal("Join hangs on a buffered ack")
	}
	if p, d := stat(t, s, "ackjoin", "pending"), stat(t, s, "ackjoin", "done"); p != 0 || d != 3 {
		t.Fatalf("pending %d, done %d; want 0, 3", p, d)
	}
}

// A claim carries the node's buffered acks: one script call for the Done
// and the next Get.
func TestClaimCarriesAcks(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "ackclaim", noAckLoop)
	for i := range 3 {
		mustAdd(t, f, item("h", i), 0, queue.Added)
	}
	x := mustGet(t, f)
	before := scriptCalls(t, s)
	f.Done(x)
	y := mustGet(t, f)
	if calls := scriptCalls(t, s) - before; calls != 1 {
		t.Errorf("Done and Get ran %d scripts, want 1", calls)
	}
	if n, d := buffered(f), stat(t, s, "ackclaim", "done"); n != 0 || d != 1 {
		t.Fatalf("after the claim: %d acks buffered, %d done; want 0, 1", n, d)
	}
	f.Done(y)
	f.Done(mustGet(t, f))
	if err := f.Join(ctxT(t, 5*time.Second)); err != nil || f.Stale() != 0 || f.Err() != nil {
		t.Fatalf("Join %v, stale %d, Err %v", err, f.Stale(), f.Err())
	}
}

// A buffered ack of a lease that expired and was handed out again is
// stale when a claim carries it: counted once, and it does not finish the
// item the other node holds.
func TestBufferedStaleAck(t *testing.T) {
	s := startRedis(t)
	short := func(o *Options) { o.LeaseTTL = 200 * time.Millisecond; o.ackWait = time.Hour; o.DeadAfter = time.Hour }
	a, b := openNode(t, s, "ackstale", short), openNode(t, s, "ackstale", short)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	x := mustGet(t, a)
	stopRenewal(a)     // x's lease is no longer renewed
	y := mustGet(t, b) // after x's lease expired
	if y.URL != x.URL || y.ID == x.ID {
		t.Fatalf("got %+v after %+v", y, x)
	}
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	a.Done(x)
	z := mustGet(t, a) // carries the stale ack
	if n := buffered(a); n != 0 {
		t.Fatalf("%d acks left after the claim", n)
	}
	if a.stale.Load() != 1 || stat(t, s, "ackstale", "stale") != 1 || stat(t, s, "ackstale", "pending") != 2 || stat(t, s, "ackstale", "done") != 0 {
		t.Fatalf("stale %d/%d, pending %d, done %d; want 1/1, 2, 0", a.stale.Load(), stat(t, s, "ackstale", "stale"),
			stat(t, s, "ackstale", "pending"), stat(t, s, "ackstale", "done"))
	}
	b.Done(y)
	a.Done(z)
	a.Stale() // sends a's ack: b's Join cannot, and a's ack loop is off
	if err := b.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if a.Stale() != 1 || b.Stale() != 0 || stat(t, s, "ackstale", "pending") != 0 || stat(t, s, "ackstale", "done") != 2 {
		t.Fatalf("stale %d %d, pending %d, done %d; want 1 0, 0, 2", a.Stale(), b.Stale(),
			stat(t, s, "ackstale", "pending"), stat(t, s, "ackstale", "done"))
	}
}

// Close sends the buffered acks before handing the other leases back.
func TestCloseFlushesAcks(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "ackclose", noAckLoop), openNode(t, s, "ackclose", nil)
	for i := range 3 {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	x, y := mustGet(t, a), mustGet(t, a)
	a.Done(x)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Done(y) // after Close: ignored, y was handed back
	if d, p, st := stat(t, s, "ackclose", "done"), stat(t, s, "ackclose", "pending"), stat(t, s, "ackclose", "stale"); d != 1 || p != 2 || st != 0 {
		t.Fatalf("after Close: done %d, pending %d, stale %d; want 1, 2, 0", d, p, st)
	}
	if z := mustGet(t, b); z.URL != y.URL {
		t.Fatalf("got %s, want the handed-back %s", z.URL, y.URL)
	}
}

// With no further Get, the ack loop sends a Done's ack within a few ms.
func TestAckLoopFlushes(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "acktimer", nil)
	mustAdd(t, f, item("h", 0), 0, queue.Added)
	f.Done(mustGet(t, f))
	start := time.Now()
	for stat(t, s, "acktimer", "done") != 1 {
		if time.Since(start) > 30*time.Second { // bounds a hang
			t.Fatal("the buffered ack was not sent")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("ack sent after %v", time.Since(start).Round(time.Millisecond))
	if p := stat(t, s, "acktimer", "pending"); p != 0 {
		t.Fatalf("pending %d", p)
	}
}

// Finish sends its ack, and those buffered, at once.
func TestFinishSendsBuffered(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "ackfinish", noAckLoop)
	for i := range 2 {
		mustAdd(t, f, item("h", i), 0, queue.Added)
	}
	x, y := mustGet(t, f), mustGet(t, f)
	f.Done(x)
	if err := f.Finish(context.Background(), y); err != nil {
		t.Fatal(err)
	}
	if n, d, p := buffered(f), stat(t, s, "ackfinish", "done"), stat(t, s, "ackfinish", "pending"); n != 0 || d != 2 || p != 0 {
		t.Fatalf("%d buffered, done %d, pending %d; want 0, 2, 0", n, d, p)
	}
	if err := f.Finish(context.Background(), queue.Item{ID: x.ID + 1, Host: "h"}); err != nil || f.Stale() != 1 {
		t.Fatalf("Finish of an unknown lease = %v, stale %d; want nil, 1", err, f.Stale())
	}
}

// The per-host in-flight cap holds across nodes with acks carried by
// claims: an item is handed out only once fewer than the cap of its host's
// items are between Get and Done.
func TestPerHostCapPiggybackedAcks(t *testing.T) {
	s := startRedis(t)
	pol := func(o *Options) { o.Config = queue.Config{PerHostConcurrency: 2} }
	a, b := openNode(t, s, "ackcap", pol), openNode(t, s, "ackcap", pol)
	const n = 120
	for i := range n {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	before := scriptCalls(t, s)
	var mu sync.Mutex
	out, most := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var got int
	for _, f := range []*Frontier{a, b} {
		for range 4 {
			wg.Go(func() {
				for {
					it, err := f.Get(ctx)
					if err != nil {
						return
					}
					mu.Lock()
					out++
					most = max(most, out)
					mu.Unlock()
					time.Sleep(time.Millisecond)
					mu.Lock()
					out-- // before Done: the ack comes later still
					got++
					if got == n {
						cancel()
					}
					mu.Unlock()
					f.Done(it)
				}
			})
		}
	}
	wg.Wait()
	if got != n {
		t.Fatalf("handed out %d, want %d", got, n)
	}
	if most > 2 {
		t.Errorf("%d items of the host between Get and Done at once, cap 2", most)
	}
	if err := a.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d := stat(t, s, "ackcap", "done"); d != n || a.Stale()+b.Stale() != 0 {
		t.Fatalf("done %d, stale %d; want %d, 0", d, a.Stale()+b.Stale(), n)
	}
	t.Logf("%.2f scripts per item", float64(scriptCalls(t, s)-before)/n)
}

// A claim that carried acks and whose reply was lost is retried with the
// same acks, flagged: they are applied once and not counted stale.
func TestLostClaimReplyWithAcks(t *testing.T) {
	s := startRedis(t)
	px := startProxy(t, s.addr)
	f := openNode(t, s, "acklost", func(o *Options) {
		o.URL = "redis://" + px.ln.Addr().String() + "/0"
		o.Heartbeat, o.DeadAfter = time.Hour, 2*time.Hour
		o.ackWait = time.Hour
	})
	for i := range 3 {
		mustAdd(t, f, item("h", i), 0, queue.Added)
	}
	x := mustGet(t, f)
	f.Done(mustGet(t, f))
	f.Done(x)
	px.arm.Store(true)
	y := mustGet(t, f) // carries both acks; its reply is lost
	if px.dropped.Load() != 1 {
		t.Fatalf("%d replies lost, want 1", px.dropped.Load())
	}
	if y.URL != item("h", 2).URL || f.stale.Load() != 0 || stat(t, s, "acklost", "stale") != 0 ||
		stat(t, s, "acklost", "done") != 2 || stat(t, s, "acklost", "pending") != 1 || stat(t, s, "acklost", "requeued") != 1 {
		t.Fatalf("got %s, stale %d/%d, done %d, pending %d, requeued %d; want %s, 0/0, 2, 1, 1", y.URL, f.stale.Load(),
			stat(t, s, "acklost", "stale"), stat(t, s, "acklost", "done"), stat(t, s, "acklost", "pending"),
			stat(t, s, "acklost", "requeued"), item("h", 2).URL)
	}
	f.Done(y)
	if err := f.Join(ctxT(t, 5*time.Second)); err != nil || f.Err() != nil {
		t.Fatal(err, f.Err())
	}
}

// TestRelease: a released lease is handed back at once, to the front of its
// host's list, for any node, and stays pending; it is never acked (nothing
// done), a repeat does nothing, and a Release after Close is a no-op.
func TestRelease(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "release", nil)
	b := openNode(t, s, "release", nil)
	mustAdd(t, a, item("h.example", 1), 0, queue.Added)
	mustAdd(t, a, item("h.example", 2), 0, queue.Added)
	first := mustGet(t, a)
	a.Release(first)
	a.Release(first) // the lease is gone: nothing happens
	if st := freshStats(t, a); st.Queued != 2 || st.InFlight != 0 {
		t.Errorf("after Release: %d queued, %d in flight; want 2, 0", st.Queued, st.InFlight)
	}
	again := mustGet(t, b)
	if again.URL != first.URL {
		t.Errorf("after Release, the other node got %s, want %s first", again.URL, first.URL)
	}
	b.Done(again)
	b.Done(mustGet(t, b))
	if err := b.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Join: %v", err)
	}
	res, err := s.rdb.HMGet(context.Background(), "cd:{c:release}:stats", "done", "stale").Result()
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != "2" || res[1] != nil && res[1] != "0" {
		t.Errorf("stats done=%v stale=%v, want 2 done and none stale", res[0], res[1])
	}
	if err := a.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
	mustAdd(t, a, item("h.example", 3), 0, queue.Added)
	held := mustGet(t, a)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Release(held) // Close handed it back already
	if st := freshStats(t, b); st.Queued != 1 || st.InFlight != 0 {
		t.Errorf("after Close and Release: %d queued, %d in flight; want 1, 0", st.Queued, st.InFlight)
	}
}
