package queue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Admit applies the seen set (within the batch too), then the host's cap,
// then the crawl's, counting only what it admits.
func TestMemory_AdmitLimits(t *testing.T) {
	page := func(host string, n int) Item { return Item{URL: fmt.Sprintf("http://%s/%d", host, n), Host: host} }
	m := NewMemory(Config{})
	got, err := m.Admit(context.Background(), []Item{
		page("a", 1), page("a", 1), page("a", 2), page("a", 3), page("b", 1), page("b", 2), page("c", 1),
	}, Limits{Pages: 4, PagesPerHost: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []Admission{Added, Duplicate, Added, OverHostLimit, Added, Added, OverLimit}
	if !slices.Equal(got, want) {
		t.Errorf("Admit = %v, want %v", got, want)
	}
	// Without caps nothing counts: c is admitted, and counted for no cap.
	if got, _ := m.Admit(context.Background(), []Item{page("c", 1), page("a", 4)}, Limits{}); !slices.Equal(got, []Admission{Added, Added}) {
		t.Errorf("uncapped Admit = %v, want Added twice", got)
	}
	if got, _ := m.Admit(context.Background(), []Item{page("c", 2)}, Limits{Pages: 5, PagesPerHost: 2}); !slices.Equal(got, []Admission{Added}) {
		t.Errorf("Admit of c's first counted page = %v, want Added", got)
	}
	if st := m.Stats(); st.Queued != 7 || st.Seen != 7 {
		t.Errorf("queued %d, seen %d; want 7 and 7", st.Queued, st.Seen)
	}
	if _, err := m.Admit(context.Background(), []Item{page("d", 1), {URL: "http://x/"}}, Limits{}); err == nil {
		t.Error("Admit of an item without a host succeeded")
	}
	if st := m.Stats(); st.Queued != 7 {
		t.Errorf("a refused batch queued items: %d queued, want 7", st.Queued)
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
