package queue

import (
	"context"
	"fmt"
	"slices"
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
