package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
				if got, want := m.Stats(), (Stats{Queued: 2, InFlight: limit, Hosts: 1, HostsWaiting: 1}); got != want {
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
