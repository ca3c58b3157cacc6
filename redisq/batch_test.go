package redisq

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

// Admit of a batch admits exactly as a sequence of Admits of one item would: seen
// set (including URLs earlier in the batch), per-host cap, budget, FIFO
// per host, one pending task per item added, visible to every node.
func TestAdmitBatchAsOneByOne(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "batch", nil), openNode(t, s, "batch", nil)
	ctx := context.Background()
	mustAdd(t, a, item("h1", 0), 0, queue.Added)

	// Host cap 2 and budget 4 count only capped, counted admissions: p0,
	// added without either, is in neither count.
	batch := []queue.Item{
		item("h1", 0), // seen before the batch
		item("h1", 1),
		item("h1", 1), // earlier in the batch
		item("h1", 2),
		item("h1", 3), // over h1's cap: p1 and p2 count
		item("h2", 0),
		item("h2", 1),
		item("h3", 0), // over the budget: h1/p1, h1/p2, h2/p0 and h2/p1 count
	}
	got, err := b.Admit(ctx, batch, queue.Limits{Pages: 4, PagesPerHost: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.Admission{queue.Duplicate, queue.Added, queue.Duplicate, queue.Added, queue.OverHostLimit,
		queue.Added, queue.Added, queue.OverLimit}
	if !slices.Equal(got, want) {
		t.Errorf("admissions %v, want %v", got, want)
	}
	if st := freshStats(t, a); st.Queued != 5 || st.Seen != 5 {
		t.Errorf("Stats after the batch = %+v, want 5 queued, 5 seen", st)
	}
	var urls []string
	for range 5 {
		it := mustGet(t, a)
		urls = append(urls, it.URL)
		a.Done(it)
	}
	h1 := slices.DeleteFunc(slices.Clone(urls), func(u string) bool { return u[:10] != "http://h1/" })
	if !slices.Equal(h1, []string{"http://h1/p0", "http://h1/p1", "http://h1/p2"}) {
		t.Errorf("h1 handed out as %v, want FIFO p0 p1 p2", h1)
	}
	// A refused URL was not marked seen.
	mustAdmit(t, a, item("h3", 0), 0, 0, queue.Added)
}

// A batch longer than one call carries is split, in order, and an empty or
// all-known batch costs no call.
func TestAdmitBatchSplit(t *testing.T) {
	s := startRedis(t)
	// No heartbeat within the test: it is a script call too, which a slow
	// machine would let fall between the two counts.
	quiet := func(o *Options) { o.Heartbeat, o.DeadAfter = time.Hour, 2*time.Hour }
	f := openNode(t, s, "split", quiet)
	ctx := context.Background()
	items := make([]queue.Item, 2*addBatchMax+10)
	for i := range items {
		items[i] = item("h", i)
	}
	got, err := f.Admit(ctx, items, queue.Limits{Pages: 0, PagesPerHost: 0})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range got {
		if a != queue.Added {
			t.Fatalf("item %d: %v, want added", i, a)
		}
	}
	if st := freshStats(t, f); st.Queued != len(items) {
		t.Fatalf("queued %d, want %d", st.Queued, len(items))
	}
	calls := func() int64 {
		v, err := s.rdb.InfoMap(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(v["Commandstats"]["cmdstat_evalsha"], "calls=")
		num, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			t.Fatalf("commandstats: %v", v["Commandstats"])
		}
		return n
	}
	before := calls()
	again, err := f.Admit(ctx, items, queue.Limits{Pages: 0, PagesPerHost: 0})
	if err != nil {
		t.Fatal(err)
	}
	if after := calls(); after != before {
		t.Errorf("a batch of URLs this node added cost %d script calls, want 0", after-before)
	}
	for i, a := range again {
		if a != queue.Duplicate {
			t.Fatalf("item %d again: %v, want duplicate", i, a)
		}
	}
	if _, err := f.Admit(ctx, []queue.Item{item("h", 1), {URL: "http://x/", Host: ""}}, queue.Limits{}); err == nil {
		t.Error("a batch with an item without host was accepted")
	}
}
