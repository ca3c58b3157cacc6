package queue

import (
	"context"
	"testing"
)

// With Depths, a URL's depth is the smallest it was added with: lowered
// in place while an item of it is queued, or through a KindExpand item once
// every item of it was handed out.
func TestMemory_Shallower(t *testing.T) {
	ctx := context.Background()
	for _, depths := range []bool{false, true} {
		m := NewMemory(Config{Rate: 0, PerHostConcurrency: 10, Depths: depths})
		add := func(depth int, want Admission) {
			t.Helper()
			if got, err := m.Add(ctx, Item{URL: "http://a/p", Host: "a", Depth: depth}, 10); err != nil || got != want {
				t.Fatalf("Depths %v: Add at depth %d = %v, %v; want %v", depths, depth, got, err, want)
			}
		}
		add(5, Added)
		if !depths {
			add(2, Duplicate)
			continue
		}
		add(2, Shallower) // still queued: lowered when handed out
		add(3, Duplicate)
		if it := get(t, m); it.Depth != 2 || it.Kind != KindPage {
			t.Fatalf("first Get: %+v, want the page at depth 2", it)
		}
		add(1, Shallower) // handed out: fetched again for its links
		if st := m.Stats(); st.Queued != 1 {
			t.Fatalf("queued %d, want the KindExpand item", st.Queued)
		}
		add(0, Shallower) // the KindExpand item is still queued: lowered
		expand := get(t, m)
		if expand.Kind != KindExpand || expand.Depth != 0 {
			t.Fatalf("second Get: %+v, want KindExpand at depth 0", expand)
		}
		if st := m.Stats(); st.Queued != 0 || st.Seen != 1 {
			t.Fatalf("stats %+v, want nothing queued and one URL seen", st)
		}
		// A retry queued again is handed out at the URL's depth, and a
		// smaller depth found meanwhile needs no new item.
		if err := m.Put(ctx, Item{URL: "http://a/p", Host: "a", Depth: 5, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		m.Done(expand)
		if it := get(t, m); it.Depth != 0 || it.Attempt != 1 {
			t.Fatalf("retry: %+v, want depth 0", it)
		}
	}
}
