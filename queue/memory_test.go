package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

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
