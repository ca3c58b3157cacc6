package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// put puts n items for host, with URLs host/0 … host/n-1.
func put(t *testing.T, m *Memory, host string, n int) {
	t.Helper()
	for i := range n {
		if err := m.Put(context.Background(), Item{URL: fmt.Sprintf("%s/%d", host, i), Host: host}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
}

// get is Get that must succeed.
func get(t *testing.T, m *Memory) Item {
	t.Helper()
	it, err := m.Get(context.Background())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return it
}

// async runs f in a goroutine and returns a channel that yields its result.
func async[T any](f func() T) <-chan T {
	c := make(chan T, 1)
	go func() { c <- f() }()
	return c
}

// returned reports whether c has a value ready; call it after synctest.Wait.
func returned[T any](c <-chan T) (T, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// event is an item handed out by Get, and when.
type event struct {
	at  time.Duration
	url string
}

// consume runs n consumers until total items have been got, each holding an
// item for hold() before Done, and returns the events in hand-out order.
func consume(m *Memory, n, total int, hold func() time.Duration) []event {
	var (
		mu     sync.Mutex
		events []event
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	for range n {
		wg.Go(func() {
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				events = append(events, event{time.Since(start), it.URL})
				if len(events) == total {
					cancel()
				}
				mu.Unlock()
				time.Sleep(hold())
				m.Done(it)
			}
		})
	}
	wg.Wait()
	return events
}

func noHold() time.Duration { return 0 }

// handOuts gets and finishes n items one at a time and returns when each was
// handed out, as offsets from t0.
func handOuts(t *testing.T, m *Memory, t0 time.Time, n int) []event {
	t.Helper()
	var es []event
	for range n {
		it := get(t, m)
		es = append(es, event{time.Since(t0), it.URL})
		m.Done(it)
	}
	return es
}

// ats returns the hand-out times of es.
func ats(es []event) []time.Duration {
	var ds []time.Duration
	for _, e := range es {
		ds = append(ds, e.at)
	}
	return ds
}

// checkTimed checks m.timed against the hosts held: a miscount would leave
// an unlimited frontier reading the clock for ever, or not reading it while
// a host needs it.
func checkTimed(t *testing.T, m *Memory) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, h := range m.hosts {
		if h.timed() {
			n++
		}
	}
	if m.timed != n {
		t.Errorf("m.timed = %d, want %d (hosts with an interval or a block)", m.timed, n)
	}
}

// timedGet runs Get in a goroutine and yields the item and when it was
// handed out, as an offset from t0.
func timedGet(m *Memory, t0 time.Time) <-chan event {
	return async(func() event {
		it, err := m.Get(context.Background())
		if err != nil {
			return event{time.Since(t0), "error: " + err.Error()}
		}
		return event{time.Since(t0), it.URL}
	})
}

// withoutBytes clears MemoryBytes, an estimate tests of the counts leave
// to the spill tests.
func withoutBytes(s Stats) Stats {
	s.MemoryBytes = 0
	return s
}

// benchItems returns one item for each of n hosts.
func benchItems(n int) []Item {
	its := make([]Item, n)
	for i := range its {
		h := fmt.Sprintf("host%d.example", i)
		its[i] = Item{URL: "http://" + h + "/", Host: h}
	}
	return its
}
