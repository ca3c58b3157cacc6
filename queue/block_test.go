package queue

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

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
