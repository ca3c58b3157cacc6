package redisq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if err := f.Refresh(ctx); err != nil {
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
