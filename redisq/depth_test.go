package redisq

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

func withDepth(d int) func(*Options) {
	return func(o *Options) { o.MaxDepth = d }
}

// seenMembers returns the members of url's seen bucket that carry its
// fingerprint's bits (all but the low 7).
func seenMembers(t *testing.T, s *server, f *Frontier, url string) []uint64 {
	t.Helper()
	fp := seen.Fingerprint(url)
	ms, err := s.rdb.SMembers(context.Background(), bucketKey(f, fp)).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, m := range ms {
		v, err := strconv.ParseUint(m, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if v&^memberLow == fp&memberMask&^memberLow {
			out = append(out, v)
		}
	}
	return out
}

// wantMember checks that url has one seen member, with depth d and the
// handed-out bit as handed.
func wantMember(t *testing.T, s *server, f *Frontier, url string, d int, handed bool) {
	t.Helper()
	want := seen.Fingerprint(url)&memberMask&^memberLow | uint64(d)
	if handed {
		want |= memberHanded
	}
	if got := seenMembers(t, s, f, url); len(got) != 1 || got[0] != want {
		t.Fatalf("seen members of %s = %x, want [%x] (depth %d, handed %v)", url, got, want, d, handed)
	}
}

func statsField(t *testing.T, s *server, f *Frontier, field string) int {
	t.Helper()
	v, err := s.rdb.HGet(context.Background(), f.prefix+"stats", field).Int()
	if err != nil {
		t.Fatalf("stats %s: %v", field, err)
	}
	return v
}

// With MaxDepth, Add of a known page at a smaller depth lowers the depth
// kept in its seen member (Shallower), counting toward no limit: a page
// still queued is handed out at the smaller depth, one handed out already
// is queued once more as a KindExpand item at that depth. The node's
// cache of seen URLs does not answer Duplicate for it, though it knows
// the URL, and a page found again no shallower is a Duplicate.
func TestShallower(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "depth", withDepth(5))
	b := openNode(t, s, "depth", withDepth(5))
	p := queue.Item{URL: "http://h/p", Host: "h", Depth: 4}
	at := func(d int) queue.Item { it := p; it.Depth = d; return it }

	mustAdd(t, a, p, 1, queue.Added)
	wantMember(t, s, a, p.URL, 4, false)
	if _, ok := a.known.depth(seen.Fingerprint(p.URL)); !ok {
		t.Fatal("the node's cache does not know the URL it added")
	}
	mustAdd(t, a, at(5), 1, queue.Duplicate)
	// Queued still: lowered, handed out at the smaller depth, no expand item.
	mustAdd(t, a, at(2), 1, queue.Shallower)
	wantMember(t, s, a, p.URL, 2, false)
	mustAdd(t, b, at(3), 1, queue.Duplicate)
	if n := statsField(t, s, a, "admitted"); n != 1 {
		t.Fatalf("admitted = %d after a Shallower, want 1", n)
	}
	if st := freshStats(t, a); st.Queued != 1 || st.Seen != 1 {
		t.Fatalf("Stats = %+v, want 1 queued, 1 seen", st)
	}
	got := mustGet(t, b)
	if got.URL != p.URL || got.Depth != 2 || got.Kind != queue.KindPage {
		t.Fatalf("Get = %+v, want %s at depth 2, a page", got, p.URL)
	}
	wantMember(t, s, a, p.URL, 2, true)

	// Handed out: lowered, and fetched again for its links.
	mustAdd(t, b, at(1), 1, queue.Shallower)
	wantMember(t, s, a, p.URL, 1, false)
	b.Done(got)
	exp := mustGet(t, a)
	if exp.URL != p.URL || exp.Depth != 1 || exp.Kind != queue.KindExpand {
		t.Fatalf("Get = %+v, want %s at depth 1, an expand item", exp, p.URL)
	}
	wantMember(t, s, a, p.URL, 1, true)
	a.Done(exp)
	if err := a.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := statsField(t, s, a, "admitted"); n != 1 {
		t.Fatalf("admitted = %d after an expand, want 1", n)
	}
	if st := freshStats(t, a); st.Seen != 1 {
		t.Fatalf("Stats = %+v, want 1 seen", st)
	}
	// Not a page (a sitemap of the same URL): never lowered.
	sm := at(0)
	sm.Kind = queue.KindSitemap
	mustAdd(t, a, sm, 0, queue.Duplicate)
	wantMember(t, s, a, p.URL, 1, true)

	// A retry (Put) of a handed-out page is queued again: a smaller depth
	// found then lowers it, with no expand item.
	q := queue.Item{URL: "http://h/q", Host: "h", Depth: 3}
	mustAdd(t, a, q, 0, queue.Added)
	first := mustGet(t, a)
	wantMember(t, s, a, q.URL, 3, true)
	first.Attempt = 1
	if err := a.Put(ctxT(t, 5*time.Second), first); err != nil {
		t.Fatal(err)
	}
	a.Done(first)
	wantMember(t, s, a, q.URL, 3, false)
	q.Depth = 1
	mustAdd(t, b, q, 0, queue.Shallower)
	retry := mustGet(t, b)
	if retry.URL != q.URL || retry.Depth != 1 || retry.Kind != queue.KindPage || retry.Attempt != 1 {
		t.Fatalf("Get = %+v, want the retry of %s at depth 1", retry, q.URL)
	}
	b.Done(retry)
	if err := b.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// In one batch, a page found twice is queued once, at the smaller depth.
func TestShallowerInBatch(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "depthbatch", withDepth(3))
	deep := queue.Item{URL: "http://h/x", Host: "h", Depth: 3}
	shallow := deep
	shallow.Depth = 1
	got, err := f.Admit(ctxT(t, 5*time.Second), []queue.Item{deep, shallow, deep}, queue.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != queue.Added || got[1] != queue.Shallower || got[2] != queue.Duplicate {
		t.Fatalf("admissions %v, want [Added Shallower Duplicate]", got)
	}
	if it := mustGet(t, f); it.Depth != 1 || it.Kind != queue.KindPage {
		t.Fatalf("Get = %+v, want depth 1, a page", it)
	}
	if st := freshStats(t, f); st.Queued != 0 {
		t.Fatalf("Stats = %+v, want nothing queued", st)
	}
}

// Nodes must agree on the max depth: the seen members' layout depends on
// it. Open refuses one beyond MaxDepthKept.
func TestMaxDepthIdentity(t *testing.T) {
	s := startRedis(t)
	openNode(t, s, "depthid", withDepth(4))
	if f, err := tryOpen(s, "depthid", nil); err == nil {
		_ = f.Close()
		t.Fatal("a node without max depth joined a crawl with one")
	}
	if f, err := tryOpen(s, "depthid", withDepth(5)); err == nil {
		_ = f.Close()
		t.Fatal("a node with another max depth joined the crawl")
	}
	if f, err := tryOpen(s, "depthbig", withDepth(MaxDepthKept+1)); err == nil {
		_ = f.Close()
		t.Fatalf("Open with MaxDepth %d succeeded", MaxDepthKept+1)
	}
}

// A lease handed back (Release, or expired) queues its item again: a
// smaller depth found then lowers it, with no expand item.
func TestShallowerAfterRelease(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "depthrelease", withDepth(4))
	p := queue.Item{URL: "http://h/r", Host: "h", Depth: 4}
	mustAdd(t, f, p, 0, queue.Added)
	got := mustGet(t, f)
	wantMember(t, s, f, p.URL, 4, true)
	f.Release(got)
	wantMember(t, s, f, p.URL, 4, false)
	p.Depth = 2
	mustAdd(t, f, p, 0, queue.Shallower)
	again := mustGet(t, f)
	if again.URL != p.URL || again.Depth != 2 || again.Kind != queue.KindPage {
		t.Fatalf("Get = %+v, want %s at depth 2, a page", again, p.URL)
	}
	f.Done(again)
	if err := f.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := freshStats(t, f); st.Queued != 0 || st.InFlight != 0 {
		t.Fatalf("Stats = %+v, want nothing left (no expand item)", st)
	}
}
