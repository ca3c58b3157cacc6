package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// childEnv names the environment variable that makes the test binary act as
// the child of TestCrash: its value is "<mode> <dir>".
const childEnv = "STORE_TEST_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(crashChild(v))
	}
	goleak.VerifyTestMain(m)
}

// unlimited is a politeness config under which Get never waits on a rate.
var unlimited = queue.Config{PerHostConcurrency: 1000}

func item(host string, n int) queue.Item {
	return queue.Item{URL: fmt.Sprintf("https://%s/page/%d", host, n), Host: host}
}

func mustOpen(t testing.TB, dir string, cfg queue.Config) *Frontier {
	t.Helper()
	f, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustClose(t testing.TB, f *Frontier) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustAdd(t testing.TB, f *Frontier, it queue.Item, limit int) queue.Admission {
	t.Helper()
	a, err := f.Add(context.Background(), it, limit)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustGet(t testing.TB, f *Frontier) queue.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it, err := f.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// drain Gets and Dones every queued item, in order.
func drain(t testing.TB, f *Frontier) []queue.Item {
	t.Helper()
	var out []queue.Item
	for f.Stats().Queued > 0 {
		it := mustGet(t, f)
		out = append(out, it)
		f.Done(it)
	}
	return out
}

// TestAddSemantics plays one sequence of Adds on a queue.Memory and on a
// Frontier, closing and reopening the Frontier halfway, and expects the same
// answers: the seen set and the admission count persist.
func TestAddSemantics(t *testing.T) {
	type op struct {
		url   string
		limit int
	}
	first := []op{
		{"a", 0}, {"a", 0}, // duplicate
		{"b", 3}, {"c", 3}, {"b", 3}, // counted, duplicate
		{"d", 0}, {"e", 3}, // uncounted, third counted
		{"f", 3}, {"f", 0}, // over the limit; refused so not seen
		{"g", 4}, // a higher limit admits one more
	}
	second := []op{
		{"a", 0}, {"c", 10}, {"g", 4}, // duplicates after reopen
		{"h", 4}, {"h", 0}, // over the persisted count
		{"i", 5}, {"j", 5}, {"k", -1}, {"k", 5},
	}
	mem := queue.NewMemory(unlimited)
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	ctx := context.Background()
	play := func(ops []op) {
		t.Helper()
		for i, o := range ops {
			it := queue.Item{URL: o.url, Host: "h"}
			want, err := mem.Add(ctx, it, o.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustAdd(t, f, it, o.limit); got != want {
				t.Errorf("op %d Add(%q, %d) = %d, queue.Memory says %d", i, o.url, o.limit, got, want)
			}
		}
		if got, want := f.Stats(), mem.Stats(); got.Seen != want.Seen || got.Queued != want.Queued {
			t.Errorf("Stats: Seen %d Queued %d, queue.Memory: Seen %d Queued %d", got.Seen, got.Queued, want.Seen, want.Queued)
		}
	}
	play(first)
	mustClose(t, f)
	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	play(second)

	// Errors are queue.Memory's too.
	if a, err := f.Add(ctx, queue.Item{URL: "x"}, 0); err == nil || a != queue.Duplicate {
		t.Errorf("Add without host = %d, %v; want Duplicate and an error", a, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Add(cancelled, queue.Item{URL: "x", Host: "h"}, 0); err != context.Canceled {
		t.Errorf("Add with a done ctx: %v", err)
	}
	if err := f.Put(ctx, queue.Item{URL: "x"}); err == nil {
		t.Error("Put without host: no error")
	}
	if a := mustAdd(t, f, queue.Item{URL: "x", Host: "h"}, 0); a != queue.Added {
		t.Errorf("x refused (%d) after failed attempts", a)
	}
}

// TestResume stops cleanly in the middle of a crawl: exactly the items not
// Done come back, each once, in their host's order.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	cfg := queue.Config{} // one in flight per host, as crawld runs
	f := mustOpen(t, dir, cfg)
	hosts := []string{"a.example", "b.example", "c.example", "d.example", "e.example"}
	order := map[string][]string{} // each host's URLs in Add order
	for i := range 100 {
		it := item(hosts[i%5], i)
		if a := mustAdd(t, f, it, 0); a != queue.Added {
			t.Fatalf("Add %s = %d", it.URL, a)
		}
		order[it.Host] = append(order[it.Host], it.URL)
	}
	done := map[string]bool{}
	for range 40 {
		it := mustGet(t, f)
		done[it.URL] = true
		f.Done(it)
	}
	mustClose(t, f)

	f = mustOpen(t, dir, cfg)
	defer mustClose(t, f)
	if s := f.Stats(); s.Queued != 60 || s.InFlight != 0 || s.Seen != 100 {
		t.Fatalf("after reopen: %+v, want 60 queued, 100 seen", s)
	}
	got := map[string][]string{}
	for _, it := range drain(t, f) {
		if done[it.URL] {
			t.Errorf("%s fetched again after Done", it.URL)
		}
		got[it.Host] = append(got[it.Host], it.URL)
	}
	for _, h := range hosts {
		var want []string
		for _, u := range order[h] {
			if !done[u] {
				want = append(want, u)
			}
		}
		if fmt.Sprint(got[h]) != fmt.Sprint(want) {
			t.Errorf("host %s after reopen:\n got %v\nwant %v", h, got[h], want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Join(ctx); err != nil {
		t.Fatalf("Join after draining: %v", err)
	}
	if n := len(f.handed); n != 0 {
		t.Errorf("%d items still recorded as handed out", n)
	}
	if n := queueEntries(t, f); n != 0 {
		t.Errorf("%d queue entries left on disk after draining", n)
	}
}

// queueEntries counts the queue entries on disk.
func queueEntries(t testing.TB, f *Frontier) int {
	t.Helper()
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixQueue), UpperBound: prefixEnd(prefixQueue)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for iter.First(); iter.Valid(); iter.Next() {
		n++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// noID returns it without its ID, to compare it with an item as Added.
func noID(it queue.Item) queue.Item {
	it.ID = 0
	return it
}

// TestInFlightAtClose: an item handed out and not Done when Close is called
// is queued again by the next Open.
func TestInFlightAtClose(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	mustAdd(t, f, item("a", 1), 0)
	mustAdd(t, f, item("a", 2), 0)
	first := mustGet(t, f)
	mustClose(t, f)
	f.Done(first) // after Close: releases memory, records nothing

	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	got := drain(t, f)
	if len(got) != 2 || noID(got[0]) != item("a", 1) || noID(got[1]) != item("a", 2) {
		t.Errorf("after reopen got %v, want a/1 then a/2", got)
	}
}

// TestRequeue: Put of a retry while the original is in flight, then Done of
// the original, leaves only the retry on disk.
func TestRequeue(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		retry func(queue.Item) queue.Item
	}{
		{"retry", func(it queue.Item) queue.Item { it.Attempt++; return it }},
		{"identical", func(it queue.Item) queue.Item { return it }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustOpen(t, dir, unlimited)
			orig := item("a", 1)
			mustAdd(t, f, orig, 0)
			mustAdd(t, f, item("a", 2), 0)
			got := mustGet(t, f)
			if noID(got) != orig || got.ID == 0 {
				t.Fatalf("Get = %v, want %v", got, orig)
			}
			retry := tc.retry(got)
			if err := f.Put(ctx, retry); err != nil {
				t.Fatal(err)
			}
			f.Done(got)
			mustClose(t, f)

			f = mustOpen(t, dir, unlimited)
			defer mustClose(t, f)
			items := drain(t, f)
			if len(items) != 2 || noID(items[0]) != item("a", 2) || noID(items[1]) != noID(retry) {
				t.Errorf("after reopen: %v, want a/2 then the retry %v", items, retry)
			}
		})
	}
}

// TestRevisit: a new round queues every seen URL again, at its depth, with
// the count restarted, durably, keeping the seen set and the validators.
func TestRevisit(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	deep := item("a", 1)
	deep.Depth = 3
	mustAdd(t, f, deep, 2)
	mustAdd(t, f, item("a", 2), 2)
	if a := mustAdd(t, f, item("a", 3), 2); a != queue.OverLimit {
		t.Fatalf("third Add = %d, want OverLimit", a)
	}
	if err := f.SaveValidators(deep.URL, `"e1"`, "Mon, 02 Jan 2006 15:04:05 GMT", time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		it, err := f.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Done(it)
	}
	if n, err := f.Revisit(context.Background()); err != nil || n != 2 {
		t.Fatalf("Revisit = %d, %v; want 2", n, err)
	}
	mustClose(t, f)

	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	if s := f.Stats(); s.Seen != 2 || s.Queued != 2 {
		t.Errorf("after Revisit and reopen: %+v, want 2 seen, 2 queued", s)
	}
	if etag, _, _, ok := f.Validators(deep.URL); !ok || etag != `"e1"` {
		t.Errorf("validators lost by Revisit: %q %v", etag, ok)
	}
	if a := mustAdd(t, f, deep, 0); a != queue.Duplicate {
		t.Errorf("Add of a revisited URL = %d, want Duplicate", a)
	}
	if a := mustAdd(t, f, item("a", 3), 2); a != queue.OverLimit {
		t.Errorf("Add beyond the limit in the new round = %d, want OverLimit", a)
	}
	got := map[string]int{}
	for range 2 {
		it, err := f.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got[it.URL] = it.Depth
		f.Done(it)
	}
	if got[deep.URL] != 3 || len(got) != 2 {
		t.Errorf("revisited items by depth: %v, want %s at depth 3", got, deep.URL)
	}
}

func TestSecondOpen(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	g, err := Open(dir, unlimited)
	if err == nil {
		g.Close()
		t.Fatal("second Open of an open dir succeeded")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("unclear error: %v", err)
	}
	mustClose(t, f)
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Add(context.Background(), item("a", 1), 0); err == nil {
		t.Error("Add after Close: no error")
	}
	f = mustOpen(t, dir, unlimited) // the lock was released
	mustClose(t, f)
}

// TestOpenErrors: Open refuses a store it cannot read, naming the directory.
func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
		val             []byte
	}{
		{"schema", keyVersion, "schema version 3", []byte{0, 0, 0, 0, 0, 0, 0, 3}},
		{"item", string(appendQueueKey(nil, "h", 7)), "item 7 of h", []byte{1, 200}},
		{"host", string(appendQueueKey(nil, "h", 7)), `host "g"`, pebbleq.AppendItem(nil, queue.Item{URL: "u", Host: "g"})},
		{"key", "q/h", "malformed queue key", pebbleq.AppendItem(nil, queue.Item{URL: "u", Host: "h"})},
		{"counter", keyCount, "malformed counter", []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustOpen(t, dir, unlimited)
			if err := f.db.Set([]byte(tc.key), tc.val, nil); err != nil {
				t.Fatal(err)
			}
			mustClose(t, f)
			f, err := Open(dir, unlimited)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the directory and %q", err, tc.want)
			}
			// The failed Open released the lock.
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			mustClose(t, mustOpen(t, dir, unlimited))
		})
	}
}

// TestConcurrentAdd: 8 goroutines Add overlapping URLs, with and without a
// limit, while others drain; each URL is queued once, the limit is exact.
func TestConcurrentAdd(t *testing.T) {
	const urls, workers = 300, 8
	for _, limit := range []int{0, 200} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			dir := t.TempDir()
			f := mustOpen(t, dir, unlimited)
			ctx := context.Background()
			var mu sync.Mutex
			added := map[string]int{}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range urls {
						n := (i*7 + w*37) % urls // every worker, every URL, in its own order
						it := item(fmt.Sprintf("h%d", n%13), n)
						a, err := f.Add(ctx, it, limit)
						if err != nil {
							t.Error(err)
							return
						}
						if a == queue.Added {
							mu.Lock()
							added[it.URL]++
							mu.Unlock()
						}
					}
				})
			}
			// Requeues and Dones race with the Adds too.
			wg.Go(func() {
				for range 50 {
					it, err := f.Get(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					retry := it
					retry.Attempt++
					if err := f.Put(ctx, retry); err != nil {
						t.Error(err)
					}
					f.Done(it)
				}
			})
			wg.Wait()
			want := urls
			if limit > 0 {
				want = limit
			}
			if len(added) != want {
				t.Errorf("%d URLs added, want %d", len(added), want)
			}
			for u, n := range added {
				if n != 1 {
					t.Errorf("%s added %d times", u, n)
				}
			}
			if s := f.Stats(); s.Queued != want || s.Seen != want {
				t.Errorf("Stats %+v, want %d queued and seen", s, want)
			}
			mustClose(t, f)
			f = mustOpen(t, dir, unlimited)
			defer mustClose(t, f)
			got := map[string]int{}
			for _, it := range drain(t, f) {
				got[it.URL]++
			}
			if len(got) != want {
				t.Errorf("after reopen %d URLs queued, want %d", len(got), want)
			}
			for u, n := range got {
				if n != 1 || added[u] != 1 {
					t.Errorf("%s queued %d times after reopen (added %d)", u, n, added[u])
				}
			}
		})
	}
}

// TestSyncer: the background syncer fsyncs what was written, and only then.
func TestSyncer(t *testing.T) {
	f, err := open(vfs.Default, t.TempDir(), unlimited, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, f)
	if f.fs.open() == 0 {
		t.Fatal("no write-ahead log has its fsync deferred")
	}
	mustAdd(t, f, item("a", 1), 0)
	deadline := time.Now().Add(5 * time.Second)
	for f.dirty.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the syncer did not sync")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRelease gives items back without finishing them: each is handed out
// again, under its ID and before the rest of its host, and stays on disk
// for the next Open; with a memory limit too, where the host's tail is
// spilled behind it.
func TestRelease(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  queue.Config
	}{{"unlimited", unlimited}, {"bounded", bounded}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustOpen(t, dir, tc.cfg)
			const n = 200
			for i := range n {
				mustAdd(t, f, item("a", i), 0)
			}
			first := mustGet(t, f)
			f.Release(first)
			again := mustGet(t, f)
			if again != first {
				t.Errorf("after Release, Get = %+v, want %+v again", again, first)
			}
			f.Done(again)
			second := mustGet(t, f)
			f.Release(second)
			if s := f.Stats(); s.Queued != n-1 || s.InFlight != 0 {
				t.Errorf("after Release: %+v, want %d queued, none in flight", s, n-1)
			}
			mustClose(t, f)

			f = mustOpen(t, dir, tc.cfg)
			defer mustClose(t, f)
			got := drain(t, f)
			if len(got) != n-1 || noID(got[0]) != item("a", 1) || noID(got[n-2]) != item("a", n-1) {
				t.Errorf("after reopen: %d items from %v, want a/1 … a/%d", len(got), got[0].URL, n-1)
			}
		})
	}
}

// The caps' counts are on disk: a reopened store goes on counting each
// host's pages, and the crawl's, where it stopped. One batch is one commit,
// with duplicates inside it seen.
func TestAdmit_LimitsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	lim := queue.Limits{Pages: 5, PagesPerHost: 2}
	f := mustOpen(t, dir, unlimited)
	got, err := f.Admit(context.Background(), []queue.Item{item("a", 1), item("a", 1), item("a", 2), item("a", 3), item("b", 1)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if want := []queue.Admission{queue.Added, queue.Duplicate, queue.Added, queue.OverHostLimit, queue.Added}; !slices.Equal(got, want) {
		t.Errorf("Admit = %v, want %v", got, want)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f = mustOpen(t, dir, unlimited)
	defer f.Close()
	got, err = f.Admit(context.Background(), []queue.Item{item("a", 4), item("b", 2), item("b", 3), item("c", 1), item("c", 2)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if want := []queue.Admission{queue.OverHostLimit, queue.Added, queue.OverHostLimit, queue.Added, queue.OverLimit}; !slices.Equal(got, want) {
		t.Errorf("Admit after reopening = %v, want %v", got, want)
	}
	if st := f.Stats(); st.Queued != 5 || st.Seen != 5 {
		t.Errorf("queued %d, seen %d; want 5 and 5", st.Queued, st.Seen)
	}
}
