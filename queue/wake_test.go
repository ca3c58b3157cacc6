package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestWakeups checks that wake-ups reach every blocked Get: none is lost when
// many Gets wait and work arrives at once or becomes due at once.
func TestWakeups(t *testing.T) {
	const n = 64
	tests := []struct {
		name string
		cfg  Config
		// setup runs before the n Gets start, work once they are all
		// blocked; together they make n items available, the last one due
		// is after Gets start.
		setup, work func(t *testing.T, m *Memory)
		due         time.Duration
	}{
		{"Puts to distinct hosts", Config{}, nil, func(t *testing.T, m *Memory) {
			for h := range n {
				put(t, m, fmt.Sprint(h), 1)
			}
		}, 0},
		{"concurrent Puts", Config{}, nil, func(t *testing.T, m *Memory) {
			var wg sync.WaitGroup
			for h := range n {
				wg.Go(func() {
					if err := m.Put(context.Background(), Item{Host: fmt.Sprint(h)}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}, 0},
		{"Puts to one host with room", Config{PerHostConcurrency: n}, nil, func(t *testing.T, m *Memory) {
			put(t, m, "a", n)
		}, 0},
		{"hosts due at once", Config{Rate: 1}, func(t *testing.T, m *Memory) {
			for h := range n {
				put(t, m, fmt.Sprint(h), 2)
				m.Done(get(t, m))
			}
		}, nil, time.Second},
		{"hosts due one by one", Config{Rate: 1}, func(t *testing.T, m *Memory) {
			for h := range n {
				put(t, m, fmt.Sprint(h), 2)
				m.Done(get(t, m))
				time.Sleep(time.Second / n) // host h is due at 1s + h/n s
			}
		}, nil, time.Second / n * (n - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				if tt.setup != nil {
					tt.setup(t, m)
				}
				start := time.Now()
				var got atomic.Int32
				var last atomic.Int64
				var wg sync.WaitGroup
				for range n {
					wg.Go(func() {
						if _, err := m.Get(context.Background()); err != nil {
							t.Error(err)
						}
						got.Add(1)
						last.Store(int64(time.Since(start)))
					})
				}
				synctest.Wait()
				if tt.work != nil {
					tt.work(t, m)
				}
				wg.Wait()
				if g, w := got.Load(), int32(n); g != w {
					t.Errorf("Gets returned = %d, want %d", g, w)
				}
				if g, w := time.Duration(last.Load()), tt.due; g != w {
					t.Errorf("last Get returned at %v, want %v", g, w)
				}
			})
		})
	}
}

// TestTimerHandover checks that when the one Get timing the earliest host
// leaves, or an earlier host appears, another blocked Get takes the timer on.
func TestTimerHandover(t *testing.T) {
	type result struct {
		url string
		at  time.Duration
	}
	tests := []struct {
		name  string
		steps func(t *testing.T, m *Memory, start func(ctx context.Context))
		want  []result
	}{
		{"timing Get cancelled", func(t *testing.T, m *Memory, start func(context.Context)) {
			put(t, m, "a", 2)
			m.Done(get(t, m)) // a/1 is due at 10s
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			t.Cleanup(cancel)
			start(ctx) // times a, gives up at 5s
			start(context.Background())
		}, []result{{"", 5 * time.Second}, {"a/1", 10 * time.Second}}},
		{"earlier host appears", func(t *testing.T, m *Memory, start func(context.Context)) {
			put(t, m, "c", 2)
			c0 := get(t, m) // c/1 is due at 10s once c0 is Done
			time.Sleep(2 * time.Second)
			put(t, m, "b", 2)
			b0 := get(t, m) // b/1 is due at 12s once b0 is Done
			time.Sleep(3 * time.Second)
			put(t, m, "a", 2)
			m.Done(get(t, m)) // a/1 is due at 15s
			start(context.Background())
			start(context.Background())
			time.Sleep(time.Second)
			m.Done(b0)
			time.Sleep(time.Second)
			m.Done(c0)
		}, []result{{"c/1", 10 * time.Second}, {"b/1", 12 * time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{Rate: 0.1})
				t0 := time.Now()
				var (
					mu  sync.Mutex
					got []result
					wg  sync.WaitGroup
				)
				start := func(ctx context.Context) {
					wg.Go(func() {
						it, _ := m.Get(ctx)
						mu.Lock()
						got = append(got, result{it.URL, time.Since(t0)})
						mu.Unlock()
					})
					synctest.Wait() // blocked in Get before the next step
				}
				tt.steps(t, m, start)
				wg.Wait()
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("Gets returned %v, want %v", got, tt.want)
				}
			})
		})
	}
}
