package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

func TestPutErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		it   Item
		want string
	}{
		{"no host", context.Background(), Item{URL: "http://a/"}, "queue: item has no host"},
		{"ctx done", cancelled, Item{URL: "http://a/", Host: "a"}, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(Config{})
			err := m.Put(tt.ctx, tt.it)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Put err = %v, want %q", err, tt.want)
			}
			if got, want := m.Stats(), (Stats{}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
			if err := m.Join(context.Background()); err != nil {
				t.Errorf("Join = %v, want nil (nothing counted)", err)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name string
		f    func(t *testing.T, m *Memory)
	}{
		{"empty returns at once", func(t *testing.T, m *Memory) {
			if err := m.Join(context.Background()); err != nil {
				t.Errorf("Join = %v, want nil", err)
			}
		}},
		{"blocks until last Done", func(t *testing.T, m *Memory) {
			put(t, m, "a", 1)
			put(t, m, "b", 1)
			a, b := get(t, m), get(t, m)
			join := async(func() error { return m.Join(context.Background()) })
			synctest.Wait()
			if _, ok := returned(join); ok {
				t.Fatal("Join returned with 2 items in flight")
			}
			m.Done(a)
			synctest.Wait()
			if _, ok := returned(join); ok {
				t.Fatal("Join returned with 1 item in flight")
			}
			m.Done(b)
			synctest.Wait()
			if err, ok := returned(join); !ok || err != nil {
				t.Errorf("after last Done: Join returned %v, err %v; want true, nil", ok, err)
			}
		}},
		{"blocks on queued items", func(t *testing.T, m *Memory) {
			put(t, m, "a", 1)
			join := async(func() error { return m.Join(context.Background()) })
			synctest.Wait()
			if _, ok := returned(join); ok {
				t.Fatal("Join returned with 1 item queued")
			}
			m.Done(get(t, m))
			synctest.Wait()
			if err, ok := returned(join); !ok || err != nil {
				t.Errorf("Join returned %v, err %v; want true, nil", ok, err)
			}
		}},
		{"Put after Join blocks again", func(t *testing.T, m *Memory) {
			put(t, m, "a", 1)
			m.Done(get(t, m))
			if err := m.Join(context.Background()); err != nil {
				t.Fatalf("first Join = %v, want nil", err)
			}
			put(t, m, "a", 1)
			join := async(func() error { return m.Join(context.Background()) })
			synctest.Wait()
			if _, ok := returned(join); ok {
				t.Fatal("second Join returned with 1 item queued")
			}
			m.Done(get(t, m))
			synctest.Wait()
			if err, ok := returned(join); !ok || err != nil {
				t.Errorf("second Join returned %v, err %v; want true, nil", ok, err)
			}
		}},
		{"honours ctx", func(t *testing.T, m *Memory) {
			put(t, m, "a", 1)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			err := m.Join(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Join = %v, want %v", err, context.DeadlineExceeded)
			}
			if got, want := time.Since(start), 3*time.Second; got != want {
				t.Errorf("Join returned after %v, want %v", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { tt.f(t, NewMemory(Config{})) })
		})
	}
}

func TestGetHonoursCtx(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, m *Memory)
	}{
		{"empty", func(*testing.T, *Memory) {}},
		{"host rate-limited", func(t *testing.T, m *Memory) {
			put(t, m, "a", 2)
			m.Done(get(t, m)) // next "a" item is due in 10s
		}},
		{"host at in-flight cap", func(t *testing.T, m *Memory) {
			put(t, m, "a", 2)
			get(t, m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{Rate: 0.1})
				tt.setup(t, m)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				it, err := m.Get(ctx)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Get = %+v, %v; want error %v", it, err, context.DeadlineExceeded)
				}
				if got, want := time.Since(start), time.Second; got != want {
					t.Errorf("Get returned after %v, want %v", got, want)
				}
			})
		})
	}
	t.Run("done ctx wins over ready item", func(t *testing.T) {
		m := NewMemory(Config{})
		put(t, m, "a", 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if it, err := m.Get(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Get = %+v, %v; want error %v", it, err, context.Canceled)
		}
		if got, want := m.Stats().Queued, 1; got != want {
			t.Errorf("Queued = %d, want %d", got, want)
		}
	})
}

func TestDoneWithoutGetPanics(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, m *Memory)
	}{
		{"unknown host", func(*testing.T, *Memory) {}},
		{"put but not got", func(t *testing.T, m *Memory) { put(t, m, "a", 1) }},
		{"done twice", func(t *testing.T, m *Memory) {
			put(t, m, "a", 2)
			m.Done(get(t, m))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(Config{Rate: 1})
			tt.setup(t, m)
			defer func() {
				got, _ := recover().(string)
				if want := "queue: Done without Get"; !strings.HasPrefix(got, want) {
					t.Errorf("recovered %q, want prefix %q", got, want)
				}
				// The panic must not leave the lock held.
				put(t, m, "b", 1)
				get(t, m)
			}()
			m.Done(Item{Host: "a"})
		})
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

func TestOrder(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		put  func(t *testing.T, m *Memory)
		want []event
	}{
		{"FIFO per host", Config{PerHostConcurrency: 10}, func(t *testing.T, m *Memory) { put(t, m, "a", 4) },
			[]event{{0, "a/0"}, {0, "a/1"}, {0, "a/2"}, {0, "a/3"}}},
		{"hosts round-robin when unlimited", Config{}, func(t *testing.T, m *Memory) {
			put(t, m, "a", 2)
			put(t, m, "b", 2)
			put(t, m, "c", 2)
		}, []event{{0, "a/0"}, {0, "b/0"}, {0, "c/0"}, {0, "a/1"}, {0, "b/1"}, {0, "c/1"}}},
		{"hosts interleave by readyAt", Config{Rate: 1}, func(t *testing.T, m *Memory) {
			put(t, m, "a", 3)
			m.Done(get(t, m)) // a/1 is due at 1s
			time.Sleep(500 * time.Millisecond)
			put(t, m, "b", 2) // b/0 is due now, b/1 at 1.5s
		}, []event{
			{0, "b/0"}, {500 * time.Millisecond, "a/1"}, {time.Second, "b/1"}, {1500 * time.Millisecond, "a/2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				tt.put(t, m)
				got := consume(m, 1, len(tt.want), noHold)
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("timeline\n got %v\nwant %v", got, tt.want)
				}
			})
		})
	}
}

func TestRate(t *testing.T) {
	const step = 250 * time.Millisecond // Rate 4
	tests := []struct {
		name  string
		burst int
		want  func(k int) time.Duration
	}{
		{"burst 1", 1, func(k int) time.Duration { return time.Duration(k) * step }},
		{"burst 3", 3, func(k int) time.Duration { return time.Duration(max(k-2, 0)) * step }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{Rate: 4, Burst: tt.burst})
				put(t, m, "a", 20)
				for k, e := range consume(m, 1, 20, noHold) {
					if got, want := e.at, tt.want(k); got != want {
						t.Errorf("item %d handed out at %v, want %v", k, got, want)
					}
				}
			})
		})
	}
}

// TestRateWindows checks the politeness bound on every window that starts and
// ends at a hand-out (the densest windows there are), with several consumers
// holding items for random times.
func TestRateWindows(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		hosts int
		items int
	}{
		{"rate 5 burst 1", Config{Rate: 5}, 2, 100},
		{"rate 5 burst 3 cap 2", Config{Rate: 5, Burst: 3, PerHostConcurrency: 2}, 3, 100},
		{"rate 3 burst 2 cap 4", Config{Rate: 3, Burst: 2, PerHostConcurrency: 4}, 2, 100},
		{"rate 1000 burst 10 cap 8", Config{Rate: 1000, Burst: 10, PerHostConcurrency: 8}, 4, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				for h := range tt.hosts {
					put(t, m, fmt.Sprint(h), tt.items)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				var mu sync.Mutex
				hold := func() time.Duration {
					mu.Lock()
					defer mu.Unlock()
					return time.Duration(rng.Int64N(int64(2 * time.Second / time.Duration(tt.cfg.Rate))))
				}
				byHost := map[string][]time.Duration{}
				for _, e := range consume(m, 8, tt.hosts*tt.items, hold) {
					h, _, _ := strings.Cut(e.url, "/")
					byHost[h] = append(byHost[h], e.at)
				}
				for h, ats := range byHost {
					for i := range ats {
						for j := i; j < len(ats); j++ {
							n, win := j-i+1, ats[j]-ats[i]
							if limit := float64(max(tt.cfg.Burst, 1)) + tt.cfg.Rate*win.Seconds(); float64(n) > limit+1e-9 {
								t.Fatalf("host %s: %d items in %v, want ≤ %.3f", h, n, win, limit)
							}
						}
					}
				}
			})
		})
	}
}

func TestNoHeadOfLineBlocking(t *testing.T) {
	t.Run("two limited hosts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 1})
			put(t, m, "a", 10) // all of a is queued ahead of b
			put(t, m, "b", 10)
			for _, e := range consume(m, 2, 20, noHold) {
				var k int
				fmt.Sscanf(e.url[2:], "%d", &k)
				if got, want := e.at, time.Duration(k)*time.Second; got != want {
					t.Errorf("%s handed out at %v, want %v", e.url, got, want)
				}
			}
		})
	})
	t.Run("waiting Get takes a new host at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 1})
			put(t, m, "a", 2)
			m.Done(get(t, m)) // a/1 is due at 1s
			start := time.Now()
			got := async(func() Item { it, _ := m.Get(context.Background()); return it })
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			if it, ok := returned(got); ok {
				t.Fatalf("Get returned %s before a/1 was due", it.URL)
			}
			put(t, m, "b", 1)
			synctest.Wait()
			it, ok := returned(got)
			if !ok || it.URL != "b/0" || time.Since(start) != 100*time.Millisecond {
				t.Fatalf("after Put of b/0: returned %v, item %q at %v; want true, \"b/0\" at 100ms", ok, it.URL, time.Since(start))
			}
			m.Done(it)
			if it, at := get(t, m), time.Since(start); it.URL != "a/1" || at != time.Second {
				t.Errorf("next Get = %q at %v, want \"a/1\" at 1s", it.URL, at)
			}
		})
	})
}

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

func TestPerHostConcurrency(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap %d", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{PerHostConcurrency: limit})
				put(t, m, "a", limit+2)
				var held []Item
				for range limit {
					held = append(held, get(t, m))
				}
				got := async(func() Item { it, _ := m.Get(context.Background()); return it })
				synctest.Wait()
				if it, ok := returned(got); ok {
					t.Fatalf("Get returned %s with %d items in flight", it.URL, limit)
				}
				if got, want := withoutBytes(m.Stats()), (Stats{Queued: 2, InFlight: limit, Hosts: 1, HostsWaiting: 1}); got != want {
					t.Errorf("Stats = %+v, want %+v", got, want)
				}
				m.Done(held[0])
				synctest.Wait()
				if it, ok := returned(got); !ok || it.URL != fmt.Sprintf("a/%d", limit) {
					t.Errorf("after Done: returned %v, item %q; want true, \"a/%d\"", ok, it.URL, limit)
				}
			})
		})
		t.Run(fmt.Sprintf("cap %d under load", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{PerHostConcurrency: limit})
				for h := range 3 {
					put(t, m, fmt.Sprint(h), 30)
				}
				var (
					mu          sync.Mutex
					out, maxOut = map[string]int{}, map[string]int{}
					wg          sync.WaitGroup
				)
				ctx, cancel := context.WithCancel(context.Background())
				for w := range 8 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(w), 0))
						for {
							it, err := m.Get(ctx)
							if err != nil {
								return
							}
							mu.Lock()
							out[it.Host]++
							maxOut[it.Host] = max(maxOut[it.Host], out[it.Host])
							mu.Unlock()
							time.Sleep(time.Duration(rng.Int64N(int64(100 * time.Millisecond))))
							mu.Lock()
							out[it.Host]--
							mu.Unlock()
							m.Done(it)
						}
					})
				}
				if err := m.Join(ctx); err != nil {
					t.Fatalf("Join = %v", err)
				}
				cancel()
				wg.Wait()
				for h, got := range maxOut {
					if got != limit {
						t.Errorf("host %s: max in flight %d, want %d", h, got, limit)
					}
				}
			})
		})
	}
}

func TestIdleEviction(t *testing.T) {
	const rate, burst = 2, 3
	const refill = time.Second / rate // one token back
	t.Run("idle hosts are dropped once refilled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: rate, Burst: burst})
			for h := range 1000 {
				put(t, m, fmt.Sprint(h), 1)
			}
			for range 1000 {
				m.Done(get(t, m))
			}
			steps := []struct {
				at   time.Duration
				want int
			}{
				{0, 1000},
				{refill - time.Nanosecond, 1000}, // a limiter short of a token must be kept
				{refill, 0},
				{burst * time.Second / rate, 0},
			}
			start := time.Now()
			for _, s := range steps {
				time.Sleep(s.at - time.Since(start))
				if got := m.Stats().Hosts; got != s.want {
					t.Errorf("at %v: Hosts = %d, want %d", s.at, got, s.want)
				}
			}
		})
	})
	t.Run("unlimited hosts are dropped at once", func(t *testing.T) {
		m := NewMemory(Config{})
		put(t, m, "a", 1)
		if got, want := m.Stats().Hosts, 1; got != want {
			t.Errorf("Hosts with an item queued = %d, want %d", got, want)
		}
		it := get(t, m)
		if got, want := m.Stats().Hosts, 1; got != want {
			t.Errorf("Hosts with an item in flight = %d, want %d", got, want)
		}
		m.Done(it)
		if got, want := m.Stats().Hosts, 0; got != want {
			t.Errorf("Hosts after Done = %d, want %d", got, want)
		}
	})
	t.Run("Holds follows the host's state", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: rate, Burst: 1})
			if m.Holds("a") {
				t.Error("Holds of a host never seen = true")
			}
			put(t, m, "a", 1)
			if !m.Holds("a") {
				t.Error("Holds with an item queued = false")
			}
			it := get(t, m)
			if !m.Holds("a") {
				t.Error("Holds with an item in flight = false")
			}
			m.Done(it)
			if !m.Holds("a") {
				t.Error("Holds while the limiter refills = false")
			}
			time.Sleep(refill)
			if m.Holds("a") {
				t.Error("Holds once the idle host is refilled = true")
			}
			m.Block(context.Background(), "a", time.Now().Add(time.Hour))
			if !m.Holds("a") {
				t.Error("Holds of a blocked host = false")
			}
		})
	})
	// A host Put again keeps its limiter if it was not yet dropped, and gets
	// a full fresh one if it was; either way the timeline is the true one.
	tests := []struct {
		name string
		used int           // items handed out before the pause
		gap  time.Duration // pause before 4 more items are Put
		want []time.Duration
	}{
		{"re-added before refill keeps limiter", 1, refill / 2, []time.Duration{0, 0, refill / 2, refill * 3 / 2}},
		{"re-added after drop is fresh", 1, 10 * time.Second, []time.Duration{0, 0, 0, refill}},
		{"re-added after full burst", 3, 2 * refill, []time.Duration{0, 0, refill, 2 * refill}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{Rate: rate, Burst: burst})
				put(t, m, "a", tt.used)
				for range tt.used {
					m.Done(get(t, m))
				}
				time.Sleep(tt.gap)
				put(t, m, "a", 4)
				var got []time.Duration
				for _, e := range consume(m, 1, 4, noHold) {
					got = append(got, e.at)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("hand-out times = %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// TestStress runs producers and link-discovering consumers concurrently (run
// it with -race) and checks that every item Put is got exactly once.
func TestStress(t *testing.T) {
	const workers, hosts, seeds = 8, 200, 500
	m := NewMemory(Config{PerHostConcurrency: 2})
	var (
		mu       sync.Mutex
		putCount = map[string]int{}
		gotCount = map[string]int{}
		inFlight [hosts]atomic.Int32
	)
	putItem := func(it Item) {
		mu.Lock()
		putCount[it.URL]++
		mu.Unlock()
		if err := m.Put(context.Background(), it); err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var consumers, producers sync.WaitGroup
	for w := range workers {
		producers.Go(func() {
			for i := range seeds {
				h := (w*seeds + i) % hosts
				putItem(Item{URL: fmt.Sprintf("%d/%d/%d", h, w, i), Host: fmt.Sprint(h)})
			}
		})
		consumers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				var h int
				fmt.Sscan(it.Host, &h)
				if n := inFlight[h].Add(1); n > 2 {
					t.Errorf("host %d: %d in flight, want ≤ 2", h, n)
				}
				mu.Lock()
				gotCount[it.URL]++
				mu.Unlock()
				if it.Depth < 3 && rng.IntN(2) == 0 {
					for c := range 2 {
						ch := rng.IntN(hosts)
						putItem(Item{URL: fmt.Sprintf("%s>%d", it.URL, c), Host: fmt.Sprint(ch), Depth: it.Depth + 1})
					}
				}
				inFlight[h].Add(-1)
				m.Done(it)
			}
		})
	}
	producers.Wait()
	jctx, jcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer jcancel()
	if err := m.Join(jctx); err != nil {
		t.Fatalf("Join = %v", err)
	}
	cancel()
	consumers.Wait()
	if len(putCount) < workers*seeds {
		t.Errorf("distinct items put = %d, want ≥ %d", len(putCount), workers*seeds)
	}
	for url, n := range putCount {
		if n != 1 || gotCount[url] != 1 {
			t.Errorf("%s: put %d times, got %d times; want 1, 1", url, n, gotCount[url])
		}
	}
	if len(gotCount) != len(putCount) {
		t.Errorf("items got = %d, want %d", len(gotCount), len(putCount))
	}
	if got, want := m.Stats(), (Stats{}); got != want {
		t.Errorf("final Stats = %+v, want %+v", got, want)
	}
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

// newBacklog returns a frontier with one of its queued for each host, so the
// benchmarks run against a ready-heap of len(its) hosts.
func newBacklog(b *testing.B, its []Item) *Memory {
	m := NewMemory(Config{})
	for _, it := range its {
		if err := m.Put(context.Background(), it); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

func BenchmarkMemory_PutGetDone(b *testing.B) {
	its := benchItems(1000)
	m := newBacklog(b, its)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := m.Put(ctx, its[i%len(its)]); err != nil {
			b.Fatal(err)
		}
		it, err := m.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		m.Done(it)
	}
}

func BenchmarkMemory_PutGetDoneParallel(b *testing.B) {
	its := benchItems(1000)
	m := newBacklog(b, its)
	ctx := context.Background()
	var seed atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1) * 7919)
		for ; pb.Next(); i++ {
			if err := m.Put(ctx, its[i%len(its)]); err != nil {
				b.Error(err)
				return
			}
			it, err := m.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			m.Done(it)
		}
	})
}

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

func TestSetInterval(t *testing.T) {
	const step = 250 * time.Millisecond // Rate 4
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name  string
		steps func(t *testing.T, m *Memory, t0 time.Time) []time.Duration
		want  []time.Duration
	}{
		{"replaces rate and burst", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", time.Second)
			put(t, m, "a", 5)
			return ats(handOuts(t, m, t0, 5))
		}, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}},
		{"0 restores rate and burst", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", time.Second)
			put(t, m, "a", 3)
			got := ats(handOuts(t, m, t0, 3)) // the last at 2s, leaving no token
			m.SetInterval(context.Background(), "a", 0)
			put(t, m, "a", 3)
			got = append(got, ats(handOuts(t, m, t0, 3))...)
			time.Sleep(ms(3500) - time.Since(t0)) // the bucket is full again at 3.5s
			put(t, m, "a", 4)
			return append(got, ats(handOuts(t, m, t0, 4))...)
		}, []time.Duration{
			0, time.Second, 2 * time.Second,
			2*time.Second + step, 2*time.Second + 2*step, 2*time.Second + 3*step,
			ms(3500), ms(3500), ms(3500), ms(3500) + step,
		}},
		{"shorter than 1/Rate has no effect", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", 100*time.Millisecond)
			put(t, m, "a", 5)
			return ats(handOuts(t, m, t0, 5))
		}, []time.Duration{0, 0, 0, step, 2 * step}},
		{"exactly 1/Rate has no effect", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", step)
			put(t, m, "a", 5)
			return ats(handOuts(t, m, t0, 5))
		}, []time.Duration{0, 0, 0, step, 2 * step}},
		{"counts from the last start", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 4)
			got := ats(handOuts(t, m, t0, 1))
			time.Sleep(100 * time.Millisecond)
			// The limiter still holds 2.4 tokens, clamped to 1; the interval
			// counts from a/0's start all the same.
			m.SetInterval(context.Background(), "a", time.Second)
			got = append(got, ats(handOuts(t, m, t0, 3))...)
			// With a burst of 1 the limiter is full, and the state dropped,
			// an interval after the last start.
			time.Sleep(time.Second)
			if got, want := m.Stats().Hosts, 0; got != want {
				t.Errorf("Hosts an interval after the last start = %d, want %d", got, want)
			}
			return got
		}, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{"burst 1 on a live host", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 3)
			got := ats(handOuts(t, m, t0, 3)) // the burst spends every token
			m.SetInterval(context.Background(), "a", time.Second)
			// At one token a second, a burst of 3 would keep the host 3s.
			time.Sleep(time.Second)
			if got, want := m.Stats().Hosts, 0; got != want {
				t.Errorf("Hosts 1s after the burst = %d, want %d", got, want)
			}
			return got
		}, []time.Duration{0, 0, 0}},
		{"0 restores burst on a live host", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", time.Second)
			put(t, m, "a", 1)
			it := get(t, m) // in flight: the host is kept
			m.SetInterval(context.Background(), "a", 0)
			time.Sleep(2 * time.Second)
			put(t, m, "a", 4)
			m.Done(it)
			return ats(handOuts(t, m, t0, 4))
		}, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 2*time.Second + step}},
		{"set before the first Put of the host", func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", 2*time.Second)
			time.Sleep(time.Second)
			put(t, m, "a", 3)
			return ats(handOuts(t, m, t0, 3))
		}, []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(Config{Rate: 4, Burst: 3})
				got := tt.steps(t, m, time.Now())
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("hand-out times\n got %v\nwant %v", got, tt.want)
				}
				checkTimed(t, m)
			})
		})
	}
}

// TestRetimeKeepsTurn checks that a host that was ready, and still is after
// a SetInterval or Block with no effect yet, keeps its turn.
func TestRetimeKeepsTurn(t *testing.T) {
	for _, change := range []func(m *Memory){
		func(m *Memory) { m.SetInterval(context.Background(), "a", 1500*time.Millisecond) }, // a has not started: its limiter is full
		func(m *Memory) {
			m.Block(context.Background(), "b", time.Now().Add(time.Second))
			m.Unblock(context.Background(), "b")
		},
	} {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 1})
			t0 := time.Now()
			put(t, m, "a", 1) // ready at 0
			time.Sleep(time.Second)
			put(t, m, "b", 1) // ready at 1s
			time.Sleep(time.Second)
			change(m)
			got := handOuts(t, m, t0, 2)
			if want := []event{{2 * time.Second, "a/0"}, {2 * time.Second, "b/0"}}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestSetIntervalMovesWaitingGet checks that a change to a host already in
// the ready-heap takes effect for the Get waiting on it, later or earlier.
func TestSetIntervalMovesWaitingGet(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		set    time.Duration // interval set before a/0 is handed out at 0
		at     time.Duration // when the interval is changed, while a Get waits for a/1
		change time.Duration
		want   time.Duration // when a/1 is handed out
	}{
		// a/1 was due at 1s; the 3s interval counts from a/0's start.
		{"later", Config{Rate: 1}, 0, 500 * time.Millisecond, 3 * time.Second, 3 * time.Second},
		// a/1 was due at 2s. The limiter holds 0.5 tokens at 1s; at Rate 4
		// the other half comes 125ms later.
		{"earlier on restore", Config{Rate: 4, Burst: 3}, 2 * time.Second, time.Second, 0, 1125 * time.Millisecond},
		{"earlier on restore, unlimited", Config{}, 2 * time.Second, 500 * time.Millisecond, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				t0 := time.Now()
				if tt.set > 0 {
					m.SetInterval(context.Background(), "a", tt.set)
				}
				put(t, m, "a", 2)
				m.Done(get(t, m))
				got := timedGet(m, t0)
				time.Sleep(tt.at)
				m.SetInterval(context.Background(), "a", tt.change)
				if tt.want > tt.at {
					time.Sleep(tt.want - tt.at - time.Nanosecond)
					synctest.Wait()
					if e, ok := returned(got); ok {
						t.Fatalf("Get returned %+v, want it to wait for %v", e, tt.want)
					}
				}
				if e := <-got; e.url != "a/1" || e.at != tt.want {
					t.Errorf("Get = %q at %v, want \"a/1\" at %v", e.url, e.at, tt.want)
				}
				checkTimed(t, m)
			})
		})
	}
}

func TestIntervalUnlimited(t *testing.T) {
	t.Run("last start unknown is taken as now", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{})
			t0 := time.Now()
			put(t, m, "a", 3)
			it := get(t, m) // handed out without reading the clock
			time.Sleep(500 * time.Millisecond)
			m.SetInterval(context.Background(), "a", time.Second)
			m.Done(it)
			if got, want := ats(handOuts(t, m, t0, 2)), []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("hand-out times = %v, want %v", got, want)
			}
		})
	})
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(Config{})
		t0 := time.Now()
		m.SetInterval(context.Background(), "a", time.Second)
		put(t, m, "a", 3)
		put(t, m, "b", 3)
		got := handOuts(t, m, t0, 6)
		want := []event{{0, "a/0"}, {0, "b/0"}, {0, "b/1"}, {0, "b/2"}, {time.Second, "a/1"}, {2 * time.Second, "a/2"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("timeline\n got %v\nwant %v", got, want)
		}
		checkTimed(t, m)

		// Cleared, the host is unlimited again and the frontier stops
		// reading the clock.
		m.SetInterval(context.Background(), "a", 0)
		put(t, m, "a", 3)
		if got, want := ats(handOuts(t, m, t0, 3)), []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after SetInterval(a, 0): hand-out times = %v, want %v", got, want)
		}
		if got, want := m.Stats(), (Stats{}); got != want {
			t.Errorf("Stats = %+v, want %+v", got, want)
		}
		if m.clocked() || len(m.intervals) != 0 {
			t.Errorf("clocked = %v, intervals = %v; want false, none", m.clocked(), m.intervals)
		}
	})
}

func TestIntervalSurvivesDrop(t *testing.T) {
	for _, cfg := range []Config{{}, {Rate: 4, Burst: 3}} {
		t.Run(fmt.Sprintf("rate %v", cfg.Rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(cfg)
				t0 := time.Now()
				m.SetInterval(context.Background(), "a", time.Second)
				put(t, m, "a", 1)
				m.Done(get(t, m))
				// The interval limiter is full again, and the state dropped, 1s
				// after a/0 started.
				time.Sleep(time.Second - time.Nanosecond)
				if got, want := m.Stats().Hosts, 1; got != want {
					t.Errorf("Hosts just before refill = %d, want %d", got, want)
				}
				time.Sleep(time.Nanosecond)
				if got, want := m.Stats().Hosts, 0; got != want {
					t.Errorf("Hosts once refilled = %d, want %d", got, want)
				}
				checkTimed(t, m)
				time.Sleep(4 * time.Second)
				put(t, m, "a", 2)
				if got, want := ats(handOuts(t, m, t0, 2)), []time.Duration{5 * time.Second, 6 * time.Second}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("after the drop: hand-out times = %v, want %v", got, want)
				}
				checkTimed(t, m)

				// Cleared while the host is idle, the setting is gone for good.
				m.SetInterval(context.Background(), "a", 0)
				time.Sleep(10 * time.Second)
				put(t, m, "a", 2)
				if got, want := ats(handOuts(t, m, t0, 2)), []time.Duration{16 * time.Second, 16 * time.Second}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("after SetInterval(a, 0): hand-out times = %v, want %v", got, want)
				}
				if len(m.intervals) != 0 {
					t.Errorf("intervals = %v, want none", m.intervals)
				}
			})
		})
	}
}

func TestBlock(t *testing.T) {
	const step = 250 * time.Millisecond // Rate 4
	t.Run("other hosts are unaffected", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 4})
			t0 := time.Now()
			put(t, m, "a", 2)
			put(t, m, "b", 4)
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			got := consume(m, 2, 6, noHold)
			want := []event{{0, "b/0"}, {step, "b/1"}, {2 * step, "b/2"}, {3 * step, "b/3"}, {2 * time.Second, "a/0"}, {2*time.Second + step, "a/1"}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
		})
	})
	t.Run("waiting Get takes another host at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 4})
			t0 := time.Now()
			put(t, m, "a", 1)
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			got := timedGet(m, t0)
			time.Sleep(100 * time.Millisecond)
			put(t, m, "b", 1)
			if e, want := <-got, (event{100 * time.Millisecond, "b/0"}); e != want {
				t.Errorf("Get = %+v, want %+v", e, want)
			}
			if got, want := handOuts(t, m, t0, 1), []event{{2 * time.Second, "a/0"}}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("next Get = %v, want %v", got, want)
			}
		})
	})
	tests := []struct {
		name  string
		cfg   Config
		steps func(t *testing.T, m *Memory, t0 time.Time) []time.Duration
		want  []time.Duration
	}{
		{"unknown host, then Put", Config{Rate: 4}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.Block(context.Background(), "a", t0.Add(3*time.Second))
			if got, want := withoutBytes(m.Stats()), (Stats{Hosts: 1, Blocked: 1}); got != want {
				t.Errorf("Stats after Block = %+v, want %+v", got, want)
			}
			time.Sleep(time.Second)
			put(t, m, "a", 2)
			if got, want := withoutBytes(m.Stats()), (Stats{Queued: 2, Hosts: 1, HostsWaiting: 1, Blocked: 1}); got != want {
				t.Errorf("Stats after Put = %+v, want %+v", got, want)
			}
			return ats(handOuts(t, m, t0, 2))
		}, []time.Duration{3 * time.Second, 3*time.Second + step}},
		{"shorter Block ignored", Config{Rate: 4}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 2)
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			m.Block(context.Background(), "a", t0.Add(time.Second))
			if got, want := withoutBytes(m.Stats()), (Stats{Queued: 2, Hosts: 1, HostsWaiting: 1, Blocked: 1}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
			return ats(handOuts(t, m, t0, 2))
		}, []time.Duration{2 * time.Second, 2*time.Second + step}},
		{"longer Block extends", Config{Rate: 4}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 2)
			m.Block(context.Background(), "a", t0.Add(time.Second))
			time.Sleep(500 * time.Millisecond)
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			return ats(handOuts(t, m, t0, 2))
		}, []time.Duration{2 * time.Second, 2*time.Second + step}},
		{"passed Block does nothing", Config{Rate: 4}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.Block(context.Background(), "a", t0.Add(-time.Second))
			m.Block(context.Background(), "a", t0)
			if got, want := m.Stats(), (Stats{}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
			put(t, m, "a", 2)
			return ats(handOuts(t, m, t0, 2))
		}, []time.Duration{0, step}},
		{"later of limiter and block", Config{Rate: 0.1}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 3)
			got := ats(handOuts(t, m, t0, 1)) // a/1 is due at 10s
			m.Block(context.Background(), "a", t0.Add(5*time.Second))
			got = append(got, ats(handOuts(t, m, t0, 1))...) // a/2 is due at 20s
			m.Block(context.Background(), "a", t0.Add(25*time.Second))
			return append(got, ats(handOuts(t, m, t0, 1))...)
		}, []time.Duration{0, 10 * time.Second, 25 * time.Second}},
		{"rate 0", Config{}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			put(t, m, "a", 2)
			put(t, m, "b", 1)
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			got := handOuts(t, m, t0, 2)
			if m.clocked() {
				t.Error("frontier still reads the clock once the block has passed")
			}
			got = append(got, handOuts(t, m, t0, 1)...)
			if want := []event{{0, "b/0"}, {2 * time.Second, "a/0"}, {2 * time.Second, "a/1"}}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
			return ats(got)
		}, []time.Duration{0, 2 * time.Second, 2 * time.Second}},
		{"rate 0, unknown host", Config{}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.Block(context.Background(), "a", t0.Add(2*time.Second))
			time.Sleep(time.Second)
			put(t, m, "a", 2)
			return ats(handOuts(t, m, t0, 2))
		}, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"rate 0, with interval", Config{}, func(t *testing.T, m *Memory, t0 time.Time) []time.Duration {
			m.SetInterval(context.Background(), "a", time.Second)
			put(t, m, "a", 3)
			got := ats(handOuts(t, m, t0, 1))
			m.Block(context.Background(), "a", t0.Add(1500*time.Millisecond))
			return append(got, ats(handOuts(t, m, t0, 2))...)
		}, []time.Duration{0, 1500 * time.Millisecond, 2500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				got := tt.steps(t, m, time.Now())
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("hand-out times\n got %v\nwant %v", got, tt.want)
				}
				checkTimed(t, m)
			})
		})
	}
}

// TestBlockWaitingGet checks that a Get waiting on a host is held back by a
// Block set while it waits, whatever its timer says, and let go by Unblock.
func TestBlockWaitingGet(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		block time.Duration                               // if > 0, a is blocked until then before the Get starts
		steps func(t *testing.T, m *Memory, t0 time.Time) // run while the Get waits for a/1
		want  time.Duration                               // when a/1 is handed out
	}{
		{"Block outlasts the Get's timer", Config{Rate: 1}, 0, func(t *testing.T, m *Memory, t0 time.Time) {
			time.Sleep(500 * time.Millisecond) // a/1 is due at 1s
			m.Block(context.Background(), "a", t0.Add(3*time.Second))
		}, 3 * time.Second},
		{"Unblock wakes the Get", Config{Rate: 1}, 10 * time.Second, func(t *testing.T, m *Memory, t0 time.Time) {
			time.Sleep(2 * time.Second)
			m.Unblock(context.Background(), "a")
		}, 2 * time.Second},
		{"Unblock leaves the limiter", Config{Rate: 1}, 10 * time.Second, func(t *testing.T, m *Memory, t0 time.Time) {
			time.Sleep(500 * time.Millisecond)
			m.Unblock(context.Background(), "a")
		}, time.Second},
		{"Unblock wakes the Get, rate 0", Config{}, 10 * time.Second, func(t *testing.T, m *Memory, t0 time.Time) {
			time.Sleep(2 * time.Second)
			m.Unblock(context.Background(), "a")
		}, 2 * time.Second},
		{"Unblock of another host", Config{}, 3 * time.Second, func(t *testing.T, m *Memory, t0 time.Time) {
			m.Block(context.Background(), "b", t0.Add(10*time.Second))
			time.Sleep(time.Second)
			m.Unblock(context.Background(), "b")
			m.Unblock(context.Background(), "c")
		}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(tt.cfg)
				t0 := time.Now()
				put(t, m, "a", 2)
				m.Done(get(t, m))
				if tt.block > 0 {
					m.Block(context.Background(), "a", t0.Add(tt.block))
				}
				got := timedGet(m, t0)
				synctest.Wait()
				if e, ok := returned(got); ok {
					t.Fatalf("Get returned %+v at once, want it to wait", e)
				}
				tt.steps(t, m, t0)
				if d := tt.want - time.Since(t0); d > 0 {
					time.Sleep(d - time.Nanosecond)
					synctest.Wait()
					if e, ok := returned(got); ok {
						t.Fatalf("Get returned %+v, want it to wait for %v", e, tt.want)
					}
				}
				if e, want := <-got, (event{tt.want, "a/1"}); e != want {
					t.Errorf("Get = %+v, want %+v", e, want)
				}
				checkTimed(t, m)
			})
		})
	}
}

// TestBlockKeepsHost checks that an idle host's state, and so its block, is
// kept until the block has passed, and no longer.
func TestBlockKeepsHost(t *testing.T) {
	for _, cfg := range []Config{{}, {Rate: 4}} {
		t.Run(fmt.Sprintf("rate %v", cfg.Rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(cfg)
				t0 := time.Now()
				put(t, m, "a", 1)
				it := get(t, m)
				m.Block(context.Background(), "a", t0.Add(2*time.Second))
				m.Done(it) // the limiter alone would let a be dropped at 250ms
				steps := []struct {
					at   time.Duration
					want Stats
				}{
					{0, Stats{Hosts: 1, Blocked: 1}},
					{time.Second, Stats{Hosts: 1, Blocked: 1}},
					{2*time.Second - time.Nanosecond, Stats{Hosts: 1, Blocked: 1}},
					{2 * time.Second, Stats{}},
				}
				for _, s := range steps {
					time.Sleep(s.at - time.Since(t0))
					if got := withoutBytes(m.Stats()); got != s.want {
						t.Errorf("at %v: Stats = %+v, want %+v", s.at, got, s.want)
					}
				}
				checkTimed(t, m)
				if m.clocked() != (cfg.Rate > 0) {
					t.Errorf("clocked = %v, want %v", m.clocked(), cfg.Rate > 0)
				}
			})
		})
	}
	t.Run("Unblock of an idle host drops it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{})
			m.Block(context.Background(), "a", time.Now().Add(time.Hour))
			m.Unblock(context.Background(), "a")
			if got, want := m.Stats(), (Stats{}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
			checkTimed(t, m)
		})
	})
}

// TestStressTiming is TestStress with workers that also Block, Unblock and
// set intervals, as the crawler does on 429s, failures and Crawl-delay (run
// it with -race): every item Put is got exactly once, the per-host cap and
// every block hold, and Join returns.
func TestStressTiming(t *testing.T) {
	for _, cfg := range []Config{{PerHostConcurrency: 2}, {Rate: 50, Burst: 2, PerHostConcurrency: 2}} {
		t.Run(fmt.Sprintf("rate %v", cfg.Rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { stressTiming(t, cfg) })
		})
	}
}

func stressTiming(t *testing.T, cfg Config) {
	const workers, hosts, seeds = 8, 50, 150
	m := NewMemory(cfg)
	start := time.Now()
	// Blocks and hand-outs are logged with the time of the call. Time
	// stands still while goroutines run, so two calls at the same instant
	// may have run in either order: a hand-out breaks a block only if it
	// came at a later instant than the Block, and no Unblock came between.
	type block struct{ at, until time.Time }
	var (
		mu       sync.Mutex
		putCount = map[string]int{}
		gotCount = map[string]int{}
		blocks   [hosts][]block
		unblocks [hosts][]time.Time
		handOuts [hosts][]event
		inFlight [hosts]atomic.Int32
	)
	putItem := func(it Item) {
		mu.Lock()
		putCount[it.URL]++
		mu.Unlock()
		if err := m.Put(context.Background(), it); err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	// meddle slows host h down or lets it go, at random.
	meddle := func(rng *rand.Rand, h int) {
		host := fmt.Sprint(h)
		switch now := time.Now(); rng.IntN(4) {
		case 0:
			until := now.Add(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
			m.Block(context.Background(), host, until)
			mu.Lock()
			blocks[h] = append(blocks[h], block{now, until})
			mu.Unlock()
		case 1:
			m.Unblock(context.Background(), host)
			mu.Lock()
			unblocks[h] = append(unblocks[h], now)
			mu.Unlock()
		case 2:
			m.SetInterval(context.Background(), host, time.Duration(rng.Int64N(int64(50*time.Millisecond))))
		case 3:
			m.SetInterval(context.Background(), host, 0)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var consumers, producers sync.WaitGroup
	for w := range workers {
		producers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range seeds {
				h := (w*seeds + i) % hosts
				putItem(Item{URL: fmt.Sprintf("%d/%d/%d", h, w, i), Host: fmt.Sprint(h)})
				if rng.IntN(4) == 0 {
					meddle(rng, rng.IntN(hosts))
				}
				if rng.IntN(8) == 0 {
					time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
				}
			}
		})
		consumers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				var h int
				fmt.Sscan(it.Host, &h)
				mu.Lock()
				gotCount[it.URL]++
				handOuts[h] = append(handOuts[h], event{time.Since(start), it.URL})
				mu.Unlock()
				if n := inFlight[h].Add(1); n > 2 {
					t.Errorf("host %d: %d in flight, want ≤ 2", h, n)
				}
				if rng.IntN(3) == 0 {
					meddle(rng, h)
				}
				if it.Depth < 2 && rng.IntN(2) == 0 {
					putItem(Item{URL: it.URL + ">", Host: fmt.Sprint(rng.IntN(hosts)), Depth: it.Depth + 1})
				}
				time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
				inFlight[h].Add(-1)
				m.Done(it)
			}
		})
	}
	producers.Wait()
	if err := m.Join(context.Background()); err != nil {
		t.Fatalf("Join = %v", err)
	}
	cancel()
	consumers.Wait()
	for url, n := range putCount {
		if n != 1 || gotCount[url] != 1 {
			t.Errorf("%s: put %d times, got %d times; want 1, 1", url, n, gotCount[url])
		}
	}
	if len(gotCount) != len(putCount) {
		t.Errorf("items got = %d, want %d", len(gotCount), len(putCount))
	}
	for h := range hosts {
		for _, e := range handOuts[h] {
			at := start.Add(e.at)
		blocks:
			for _, b := range blocks[h] {
				if !b.at.Before(at) || !at.Before(b.until) {
					continue
				}
				for _, u := range unblocks[h] {
					if !u.Before(b.at) && !u.After(at) {
						continue blocks
					}
				}
				t.Errorf("host %d: %s handed out at %v, under a block set at %v until %v", h, e.url, e.at, b.at.Sub(start), b.until.Sub(start))
			}
		}
	}
	checkTimed(t, m)
	// Once every block has passed and every limiter refilled, no host state
	// is left, though the intervals still set are kept.
	time.Sleep(time.Minute)
	if got, want := m.Stats(), (Stats{}); got != want {
		t.Errorf("final Stats = %+v, want %+v", got, want)
	}
	checkTimed(t, m)
	for h := range hosts {
		m.SetInterval(context.Background(), fmt.Sprint(h), 0)
	}
	if len(m.intervals) != 0 || m.clocked() != (cfg.Rate > 0) {
		t.Errorf("after clearing: intervals = %v, clocked = %v; want none, %v", m.intervals, m.clocked(), cfg.Rate > 0)
	}
}

func TestMemory_Add(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Config{Revisitable: true})
	item := func(u string) Item { return Item{URL: u, Host: "h"} }
	steps := []struct {
		url   string
		limit int
		want  Admission
	}{
		{"http://h/a", 2, Added},
		{"http://h/a", 2, Duplicate},
		{"http://h/redirect-hop", 0, Added}, // uncounted
		{"http://h/b", 2, Added},
		{"http://h/c", 2, OverLimit},
		{"http://h/c", 0, Added}, // refused above, so not seen
		{"http://h/c", 0, Duplicate},
	}
	for i, st := range steps {
		got, err := m.Add(ctx, item(st.url), st.limit)
		if err != nil || got != st.want {
			t.Fatalf("step %d: Add(%s, %d) = %v, %v; want %v", i, st.url, st.limit, got, err, st.want)
		}
	}
	if s := m.Stats(); s.Queued != 4 || s.Seen != 4 {
		t.Errorf("Stats = %+v, want 4 queued, 4 seen", s)
	}
	for range 4 {
		m.Done(get(t, m))
	}
	n, err := m.Revisit(ctx)
	if err != nil || n != 4 {
		t.Fatalf("Revisit = %d, %v; want the 4 seen URLs queued again", n, err)
	}
	if s := m.Stats(); s.Queued != 4 || s.Seen != 4 {
		t.Errorf("Stats after Revisit = %+v, want 4 queued, 4 seen", s)
	}
	if got, _ := m.Add(ctx, item("http://h/a"), 0); got != Duplicate {
		t.Errorf("Add of a revisited URL = %v, want Duplicate", got)
	}
	if got, _ := m.Add(ctx, item("http://h/new"), 4); got != OverLimit {
		t.Errorf("Add beyond the limit in the new round = %v, want OverLimit (4 pages revisited)", got)
	}
	if _, err := m.Add(ctx, Item{URL: "x"}, 0); err == nil {
		t.Error("Add of an item without a host succeeded")
	}
	// A retry goes back in with Put, whatever Add knows.
	if err := m.Put(ctx, item("http://h/a")); err != nil {
		t.Errorf("Put of a seen URL: %v", err)
	}
}

func TestMemory_AddConcurrentOnce(t *testing.T) {
	m := NewMemory(Config{})
	var wg sync.WaitGroup
	var added atomic.Int32
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				if a, _ := m.Add(context.Background(), Item{URL: fmt.Sprint(i), Host: "h"}, 50); a == Added {
					added.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := added.Load(); n != 50 {
		t.Errorf("added %d items across 8 goroutines with limit 50, want exactly 50", n)
	}
}

func TestMemory_Reconfigure(t *testing.T) {
	t.Run("slower rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 4})
			put(t, m, "a", 4)
			m.Done(get(t, m)) // a/0 at 0; a/1 due at 250ms
			m.Reconfigure(Config{Rate: 1})
			// The token spent at 0 refills at the new rate: a/1 at 1s.
			got := consume(m, 1, 3, noHold)
			want := []event{{time.Second, "a/1"}, {2 * time.Second, "a/2"}, {3 * time.Second, "a/3"}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
		})
	})
	t.Run("from unlimited to limited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{})
			put(t, m, "a", 3)
			m.Reconfigure(Config{Rate: 2})
			got := consume(m, 1, 3, noHold)
			want := []event{{0, "a/0"}, {500 * time.Millisecond, "a/1"}, {time.Second, "a/2"}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
		})
	})
	t.Run("more in flight per host", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{})
			put(t, m, "a", 3)
			first := get(t, m)
			next := async(func() Item { return get(t, m) })
			synctest.Wait()
			if _, ok := returned(next); ok {
				t.Fatal("a second item of the host was handed out at concurrency 1")
			}
			m.Reconfigure(Config{PerHostConcurrency: 3})
			synctest.Wait()
			if _, ok := returned(next); !ok {
				t.Fatal("raising the cap did not release the waiting Get")
			}
			get(t, m) // the third fits under the new cap without a Done
			m.Done(first)
		})
	})
	t.Run("interval slower than the new rate stays", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(Config{Rate: 10})
			m.SetInterval(context.Background(), "a", 2*time.Second)
			put(t, m, "a", 2)
			m.Reconfigure(Config{Rate: 4})
			got := consume(m, 1, 2, noHold)
			want := []event{{0, "a/0"}, {2 * time.Second, "a/1"}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("timeline\n got %v\nwant %v", got, want)
			}
		})
	})
}

func TestMemory_RevisitNeedsRevisitable(t *testing.T) {
	m := NewMemory(Config{})
	if _, err := m.Add(context.Background(), Item{URL: "http://h/a", Host: "h"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revisit(context.Background()); err == nil {
		t.Error("Revisit without Config.Revisitable succeeded (the URLs were not kept)")
	}
}

// withoutBytes clears MemoryBytes, an estimate tests of the counts leave
// to TestSpill.
func withoutBytes(s Stats) Stats {
	s.MemoryBytes = 0
	return s
}

func TestMemory_Release(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(Config{})
		put(t, m, "a", 3)
		first := get(t, m)
		join := async(func() error { return m.Join(context.Background()) })
		m.Release(first)
		if st := m.Stats(); st.Queued != 3 || st.InFlight != 0 {
			t.Errorf("after Release: queued %d, in flight %d; want 3, 0", st.Queued, st.InFlight)
		}
		// The slot is free again (one per host), and the released item is
		// the host's oldest again.
		var got []string
		for range 3 {
			it := get(t, m)
			got = append(got, it.URL)
			m.Done(it)
			if len(got) < 3 {
				synctest.Wait()
				if _, ok := returned(join); ok {
					t.Fatalf("Join returned after %d of 3 items were Done", len(got))
				}
			}
		}
		synctest.Wait()
		if want := []string{"a/0", "a/1", "a/2"}; !slices.Equal(got, want) {
			t.Errorf("order after Release: got %v, want %v", got, want)
		}
		if err, ok := returned(join); !ok || err != nil {
			t.Errorf("after the last Done: Join returned %v, err %v; want true, nil", ok, err)
		}
	})
	t.Run("without Get panics", func(t *testing.T) {
		m := NewMemory(Config{})
		defer func() {
			got, _ := recover().(string)
			if want := "queue: Release without Get"; !strings.HasPrefix(got, want) {
				t.Errorf("recovered %q, want prefix %q", got, want)
			}
		}()
		m.Release(Item{Host: "a"})
	})
}
