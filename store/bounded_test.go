package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/crawld/crawld/queue"
)

// smallLimit is the MemoryLimit of the bounded tests: a few tens of items,
// so nearly everything queued spills.
const smallLimit = 4 << 10

// bounded is a politeness config with a small memory limit and one item in
// flight per host, so that a host's items are handed out strictly in turn.
var bounded = queue.Config{MemoryLimit: smallLimit}

// memBytes is queue.Memory's estimate of an item's memory (its itemBytes).
func memBytes(it queue.Item) int64 {
	return int64(unsafe.Sizeof(queue.Item{}))*3/2 + int64(len(it.URL)+len(it.Host)+len(it.Origin))
}

// memSlack is how far above its MemoryLimit queue.Memory's MemoryBytes may
// go with hosts hosts of names up to hostLen bytes and items up to maxItem
// bytes (memBytes). queue.Memory keeps an item in memory only if it fits
// under the limit, but it counts a host's state (hostBytes, 320 bytes, plus
// the name) whether or not the host's items fit, and a host with nothing in
// memory takes back up to unspillBatch (64) items at once while memory is
// below half the limit. Both constants are queue's.
func memSlack(hosts, hostLen int, maxItem int64) int64 {
	return int64(hosts)*(320+int64(hostLen)) + 64*maxItem
}

// hostItem returns item n of the bounded tests, its host chosen
// round-robin from hosts.
func hostItem(hosts []string, n int) queue.Item {
	return item(hosts[n%len(hosts)], n)
}

var fiveHosts = []string{"a.example", "b.example", "c.example", "d.example", "e.example"}

// checkOrder checks that got holds exactly the want URLs of each host, once
// each, in order.
func checkOrder(t *testing.T, want, got map[string][]string) {
	t.Helper()
	for h, w := range want {
		if fmt.Sprint(got[h]) != fmt.Sprint(w) {
			t.Errorf("host %s: got %d items, want %d, or out of order\n got %.300v\nwant %.300v", h, len(got[h]), len(w), got[h], w)
		}
	}
	for h := range got {
		if _, ok := want[h]; !ok {
			t.Errorf("items of unexpected host %s", h)
		}
	}
}

// TestBounded queues 5,000 items on five hosts under a 4 KiB memory limit
// and drains them: nearly all spill, memory stays bounded, and every item
// comes out once, in its host's order. Items are Done a hundred at a time,
// so that those read back from disk are often still in flight (their
// entries still there) when their host's tail is read again.
func TestBounded(t *testing.T) {
	const n, window = 5_000, 100
	cfg := bounded
	cfg.PerHostConcurrency = window
	f := mustOpen(t, t.TempDir(), cfg)
	defer mustClose(t, f)
	want := map[string][]string{}
	var maxItem int64
	for i := range n {
		it := hostItem(fiveHosts, i)
		if a := mustAdd(t, f, it, 0); a != queue.Added {
			t.Fatalf("Add %s = %d", it.URL, a)
		}
		want[it.Host] = append(want[it.Host], it.URL)
		maxItem = max(maxItem, memBytes(it))
	}
	bound := int64(smallLimit) + memSlack(len(fiveHosts), len("a.example"), maxItem)
	s := f.Stats()
	if s.Queued != n || s.Spilled < n*9/10 || s.MemoryBytes > bound {
		t.Fatalf("after %d Adds: %+v; want all queued, over 90%% spilled, at most %d bytes", n, s, bound)
	}
	got := map[string][]string{}
	ids := map[uint64]bool{}
	peak := s.MemoryBytes
	var inFlight []queue.Item
	for i := range n {
		it := mustGet(t, f)
		if ids[it.ID] {
			t.Fatalf("id %d (%s) handed out twice", it.ID, it.URL)
		}
		ids[it.ID] = true
		got[it.Host] = append(got[it.Host], it.URL)
		peak = max(peak, f.Stats().MemoryBytes)
		if inFlight = append(inFlight, it); len(inFlight) == window || i == n-1 {
			for _, it := range inFlight {
				f.Done(it)
			}
			inFlight = inFlight[:0]
		}
	}
	checkOrder(t, want, got)
	if peak > bound {
		t.Errorf("MemoryBytes peaked at %d, above %d", peak, bound)
	}
	t.Logf("MemoryBytes peak %d for a limit of %d", peak, smallLimit)
	if s := f.Stats(); s.Queued != 0 || s.Spilled != 0 || s.InFlight != 0 {
		t.Errorf("after draining: %+v", s)
	}
	if n := f.ovf.tails.Hosts(); n != 0 {
		t.Errorf("%d hosts still have a spilled tail recorded", n)
	}
	if n := queueEntries(t, f); n != 0 {
		t.Errorf("%d queue entries left on disk", n)
	}
}

// TestBoundedConcurrent: eight workers Get and Done (and requeue some
// items, as retries) while a producer Adds, under a 4 KiB limit: every item
// is handed out once (a retry once more), in its host's order, memory stays
// bounded, and Join returns.
func TestBoundedConcurrent(t *testing.T) {
	const n, prefill, workers = 6_000, 1_000, 8
	hosts := []string{"h0.example", "h1.example", "h2.example", "h3.example", "h4.example", "h5.example", "h6.example"}
	f := mustOpen(t, t.TempDir(), bounded)
	defer mustClose(t, f)
	var maxItem int64
	want := map[string][]string{}
	for i := range n {
		it := hostItem(hosts, i)
		it.Attempt = 1 // the largest a retry makes it
		maxItem = max(maxItem, memBytes(it))
		want[it.Host] = append(want[it.Host], it.URL)
	}
	bound := int64(smallLimit) + memSlack(len(hosts), len(hosts[0]), maxItem)
	ctx := context.Background()
	for i := range prefill {
		mustAdd(t, f, hostItem(hosts, i), 0)
	}
	if s := f.Stats(); s.Spilled < prefill/2 {
		t.Fatalf("after %d Adds only %d spilled", prefill, s.Spilled)
	}

	var (
		mu      sync.Mutex
		got     = map[string][]string{} // first tries, in hand-out order
		retried = map[string]int{}      // retries handed out, by URL
		peak    int64
	)
	sample := func() {
		b := f.Stats().MemoryBytes
		mu.Lock()
		peak = max(peak, b)
		mu.Unlock()
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				it, err := f.Get(wctx)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Error(err)
					}
					return
				}
				// The host's next item is not handed out before Done
				// (one in flight per host), so this records its order.
				mu.Lock()
				if it.Attempt == 0 {
					got[it.Host] = append(got[it.Host], it.URL)
				} else {
					retried[it.URL]++
				}
				mu.Unlock()
				if it.Attempt == 0 && strings.HasSuffix(it.URL, "7") {
					retry := it
					retry.Attempt++
					if err := f.Put(ctx, retry); err != nil {
						t.Error(err)
					}
				}
				f.Done(it)
				sample()
			}
		})
	}
	for i := prefill; i < n; i++ {
		if _, err := f.Add(ctx, hostItem(hosts, i), 0); err != nil {
			t.Fatal(err)
		}
		sample()
	}
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := f.Join(jctx); err != nil {
		t.Errorf("Join: %v", err)
	}
	stop()
	wg.Wait()

	checkOrder(t, want, got)
	retries := 0
	for u, c := range retried {
		if c != 1 || !strings.HasSuffix(u, "7") {
			t.Errorf("retry of %s handed out %d times", u, c)
		}
		retries += c
	}
	if retries != n/10 {
		t.Errorf("%d retries handed out, want %d", retries, n/10)
	}
	if peak > bound {
		t.Errorf("MemoryBytes peaked at %d, above %d", peak, bound)
	}
	if s := f.Stats(); s.Queued != 0 || s.Spilled != 0 || s.InFlight != 0 {
		t.Errorf("after Join: %+v", s)
	}
	if n := queueEntries(t, f); n != 0 {
		t.Errorf("%d queue entries left on disk", n)
	}
}

// TestBoundedRestart: under a small limit, the items not Done when the
// Frontier is closed, those in flight included, come back after Open under
// the same limit once each, in their host's order, spilled again.
func TestBoundedRestart(t *testing.T) {
	const n, done = 3_000, 500
	dir := t.TempDir()
	cfg := bounded
	cfg.PerHostConcurrency = 2
	f := mustOpen(t, dir, cfg)
	for i := range n {
		mustAdd(t, f, hostItem(fiveHosts, i), 0)
	}
	finished := map[string]bool{}
	for range done {
		it := mustGet(t, f)
		finished[it.URL] = true
		f.Done(it)
	}
	var inFlight []queue.Item
	for range len(fiveHosts) {
		inFlight = append(inFlight, mustGet(t, f))
	}
	mustClose(t, f)
	for _, it := range inFlight {
		f.Done(it) // after Close: records nothing
	}

	f = mustOpen(t, dir, cfg)
	defer mustClose(t, f)
	if s := f.Stats(); s.Queued != n-done || s.Spilled == 0 || s.Seen != n {
		t.Fatalf("after reopen: %+v; want %d queued, some spilled, %d seen", s, n-done, n)
	}
	want := map[string][]string{}
	for i := range n {
		if it := hostItem(fiveHosts, i); !finished[it.URL] {
			want[it.Host] = append(want[it.Host], it.URL)
		}
	}
	for _, it := range inFlight {
		if h := want[it.Host]; len(h) == 0 || h[0] != it.URL {
			t.Fatalf("in flight at Close, %s is not its host's oldest item left", it.URL)
		}
	}
	got := map[string][]string{}
	for _, it := range drain(t, f) {
		got[it.Host] = append(got[it.Host], it.URL)
	}
	checkOrder(t, want, got)

	// New items get ids above every id loaded.
	mustAdd(t, f, item("z.example", 1), 0)
	it := mustGet(t, f)
	if it.ID <= n {
		t.Errorf("new item got id %d, not above the %d used", it.ID, n)
	}
	f.Done(it)
}

// TestGetAfterClose: after Close, Get still hands out the items in memory,
// but fails, rather than reading the closed database, on a spilled one.
func TestGetAfterClose(t *testing.T) {
	f := mustOpen(t, t.TempDir(), bounded)
	for i := range 200 {
		mustAdd(t, f, item("a", i), 0)
	}
	mustClose(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		it, err := f.Get(ctx)
		if err != nil {
			if !errors.Is(err, errClosed) {
				t.Errorf("Get of a spilled item after Close: %v, want %v", err, errClosed)
			}
			if i == 0 || i >= 200 {
				t.Errorf("Get failed after %d items; want some in memory, not all", i)
			}
			return
		}
		if it.URL != item("a", i).URL {
			t.Fatalf("Get %d = %s", i, it.URL)
		}
		f.Done(it)
	}
}

// TestDoneMisuse: Done panics on an item Get did not hand out, on a second
// Done and on a changed Host, and deletes nothing then.
func TestDoneMisuse(t *testing.T) {
	f := mustOpen(t, t.TempDir(), unlimited)
	defer mustClose(t, f)
	mustAdd(t, f, item("a", 1), 0)
	mustAdd(t, f, item("a", 2), 0)
	it := mustGet(t, f)
	panics := func(name string, it queue.Item) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("Done of %s did not panic", name)
			}
		}()
		f.Done(it)
	}
	panics("an item never queued", item("a", 1))
	queued := it
	queued.ID++ // a/2, queued and not handed out
	panics("a queued item", queued)
	moved := it
	moved.Host = "b"
	panics("an item with another host", moved)
	f.Done(it)
	panics("an item Done already", it)
	if n := queueEntries(t, f); n != 1 {
		t.Errorf("%d queue entries, want a/2's alone", n)
	}
	if _, err := f.Add(context.Background(), queue.Item{URL: "x", Host: "a\x00b"}, 0); err == nil {
		t.Error("Add of a host with a NUL byte: no error")
	}
	if err := f.Put(context.Background(), queue.Item{URL: "x", Host: "a\x00"}); err == nil {
		t.Error("Put of a host with a NUL byte: no error")
	}
}
