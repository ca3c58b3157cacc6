package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

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
