package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

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
