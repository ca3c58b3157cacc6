package redisq

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

// faultProxy forwards TCP connections to Redis and can lose the reply to
// the next script call: it closes that connection once Redis answered, so
// the client cannot tell whether the script ran.
type faultProxy struct {
	ln      net.Listener
	target  string
	arm     atomic.Bool // lose the reply to the next EVALSHA
	dropped atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func startProxy(t *testing.T, target string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		var lose atomic.Bool
		p.wg.Go(func() { // client → Redis
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.arm.CompareAndSwap(true, false) {
						lose.Store(true)
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		p.wg.Go(func() { // Redis → client
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if lose.Load() {
						p.dropped.Add(1)
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// A script that ran but whose reply was lost is retried without doubling
// its effect: Put queues once, a claim leases one item (the lost lease is
// handed back first), Done finishes once and counts no stale ack, Add
// queues once (and reports Duplicate, as documented).
func TestLostRepliesNotReplayed(t *testing.T) {
	s := startRedis(t)
	px := startProxy(t, s.addr)
	f := openNode(t, s, "lostreply", func(o *Options) {
		o.URL = "redis://" + px.ln.Addr().String() + "/0"
		o.Heartbeat, o.DeadAfter = time.Hour, 2*time.Hour // no traffic but the test's
	})
	ctx := ctxT(t, 20*time.Second)
	const p = "cd:{c:lostreply}:"
	// Load every script first: a lost NOSCRIPT reply is not the case tested.
	mustAdd(t, f, item("w", 0), 0, queue.Added)
	if err := f.Put(ctx, item("w", 1)); err != nil {
		t.Fatal(err)
	}
	f.Done(mustGet(t, f))
	f.Done(mustGet(t, f))
	if err := f.Join(ctx); err != nil {
		t.Fatal(err)
	}
	llen := func() int64 { return s.rdb.LLen(ctx, p+"q:h").Val() }
	stat := func(name string) int64 { n, _ := s.rdb.HGet(ctx, p+"stats", name).Int64(); return n }
	lose := func(want int64) {
		t.Helper()
		if got := px.dropped.Load(); got != want {
			t.Fatalf("%d replies lost, want %d", got, want)
		}
	}

	px.arm.Store(true)
	if err := f.Put(ctx, item("h", 1)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	lose(1)
	if llen() != 1 || stat("pending") != 1 {
		t.Fatalf("after a Put whose reply was lost: %d queued, pending %d; want 1, 1", llen(), stat("pending"))
	}

	px.arm.Store(true)
	if a, err := f.Add(ctx, item("h", 2), 0); err != nil || a != queue.Duplicate {
		t.Fatalf("Add = %v, %v; want Duplicate (its first try took effect)", a, err)
	}
	lose(2)
	if llen() != 2 || stat("pending") != 2 || stat("seen") != 2 {
		t.Fatalf("after an Add whose reply was lost: %d queued, pending %d, seen %d; want 2, 2, 2", llen(), stat("pending"), stat("seen"))
	}

	px.arm.Store(true)
	it := mustGet(t, f)
	lose(3)
	if it.URL != item("h", 1).URL || s.rdb.ZCard(ctx, p+"lease").Val() != 1 || llen() != 1 || stat("requeued") != 1 {
		t.Fatalf("after a claim whose reply was lost: got %s, %d leases, %d queued, %d requeued; want %s, 1, 1, 1",
			it.URL, s.rdb.ZCard(ctx, p+"lease").Val(), llen(), stat("requeued"), item("h", 1).URL)
	}

	px.arm.Store(true)
	f.Done(it) // the ack waits for a claim, or the ack loop
	f.Stale()  // sends it now, if the ack loop has not
	lose(4)
	if f.Err() != nil || f.Stale() != 0 || stat("stale") != 0 || stat("pending") != 1 || stat("done") != 3 {
		t.Fatalf("after a Done whose reply was lost: err %v, stale %d/%d, pending %d, done %d; want nil, 0/0, 1, 3",
			f.Err(), f.Stale(), stat("stale"), stat("pending"), stat("done"))
	}
	f.Done(mustGet(t, f))
	if err := f.Join(ctx); err != nil {
		t.Fatal(err)
	}
}
