package store

import (
	"testing"

	"github.com/crawld/crawld/queue"
)

// With queue.Config.Depths a URL's depth is the smallest it was added with:
// applied by Get while an item of it is queued, or through a KindExpand item
// once one was handed out (in flight, or Done, also before a restart).
func TestDepths(t *testing.T) {
	dir := t.TempDir()
	cfg := queue.Config{PerHostConcurrency: 10, Depths: true}
	f := mustOpen(t, dir, cfg)
	p := queue.Item{URL: "https://a/p", Host: "a", Depth: 5}
	at := func(depth int) queue.Item { it := p; it.Depth = depth; return it }
	check := func(got, want queue.Admission, what string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	check(mustAdd(t, f, at(5), 10), queue.Added, "new")
	check(mustAdd(t, f, at(3), 10), queue.Shallower, "queued at 5, found at 3")
	check(mustAdd(t, f, at(4), 10), queue.Duplicate, "found at 4")
	got := mustGet(t, f)
	if got.Depth != 3 || got.Kind != queue.KindPage {
		t.Fatalf("Get: %+v, want the page at depth 3", got)
	}
	check(mustAdd(t, f, at(2), 10), queue.Shallower, "in flight, found at 2")
	f.Done(got)
	expand := mustGet(t, f)
	if expand.Kind != queue.KindExpand || expand.Depth != 2 {
		t.Fatalf("Get: %+v, want KindExpand at depth 2", expand)
	}
	f.Done(expand)
	mustClose(t, f)

	// Done before the restart: a smaller depth queues a KindExpand item.
	f = mustOpen(t, dir, cfg)
	defer mustClose(t, f)
	check(mustAdd(t, f, at(2), 10), queue.Duplicate, "found at 2 again")
	check(mustAdd(t, f, at(1), 10), queue.Shallower, "done, found at 1")
	if got := mustGet(t, f); got.Kind != queue.KindExpand || got.Depth != 1 {
		t.Fatalf("Get after restart: %+v, want KindExpand at depth 1", got)
	} else {
		f.Done(got)
	}
	if st := f.Stats(); st.Queued != 0 || st.Seen != 1 {
		t.Fatalf("stats %+v, want nothing queued and one URL seen", st)
	}
}
