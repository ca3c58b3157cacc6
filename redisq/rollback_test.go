package redisq

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

// T6e. Redis killed and restarted on an AOF cut before a page's claim, the
// Adds of its links and its Done: the links the nodes had cached as seen
// are gone from Redis. Each node drops its cache when it notices the
// restart (a claim before handing out the item, or a heartbeat), so the
// page fetched again admits its links anew, and a node that had added
// other lost links admits them again too: all are Added, none Duplicate,
// and every one is crawled.
func TestRollbackDropsSeenCache(t *testing.T) {
	s := startRedis(t, persistent...)
	noticed := map[string]chan struct{}{}
	node := func(name string) *Frontier {
		ch := make(chan struct{}, 1)
		noticed[name] = ch
		return openNode(t, s, "rollback", func(o *Options) {
			o.NodeID = name
			o.Heartbeat, o.DeadAfter = 100*time.Millisecond, time.Hour
			o.Warn = func(w string) {
				if strings.Contains(w, "redis restarted") {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	a, b := node("a"), node("b")
	page := item("site", 0)
	mustAdd(t, a, page, 0, queue.Added)
	aofCheckpoint(t, s)
	aof, keep := aofTail(t, s.rs.Dir)

	// The writes the restart loses: a crawls the page (its claim, its
	// links' Adds, its Done); b adds links of its own. Both nodes cache
	// every link as seen.
	links := func(from, n int) []queue.Item {
		var its []queue.Item
		for i := range n {
			its = append(its, item("site", from+i))
		}
		return its
	}
	fromPage, fromB := links(1, 4), links(10, 3)
	addAll := func(f *Frontier, its []queue.Item, want queue.Admission) {
		t.Helper()
		got, err := f.Admit(ctxT(t, 10*time.Second), its, queue.Limits{Pages: 0, PagesPerHost: 0})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range got {
			if a != want {
				t.Errorf("%s: Add of %s = %v; want %v", f.NodeID(), its[i].URL, a, want)
			}
		}
	}
	p := mustGet(t, a)
	addAll(a, fromPage, queue.Added)
	addAll(b, fromB, queue.Added)
	addAll(b, fromPage, queue.Duplicate) // now in b's cache too
	addAll(a, fromB, queue.Duplicate)    // and b's in a's
	if err := a.Finish(ctxT(t, 10*time.Second), p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Frontier{a, b} {
		for _, it := range append(append([]queue.Item(nil), fromPage...), fromB...) {
			if !f.known.has(seen.Fingerprint(it.URL)) {
				t.Fatalf("%s has not cached %s as seen", f.NodeID(), it.URL)
			}
		}
	}

	s.rs.Kill(t)
	if err := os.Truncate(aof, keep); err != nil {
		t.Fatal(err)
	}
	s.rs.Restart(t)
	if n := stat(t, s, "rollback", "seen"); n != 1 {
		t.Fatalf("Redis holds %d seen URLs after the rollback; want 1 (the page), the links' Adds lost", n)
	}

	// The page's claim was lost: it is handed out again, and its links,
	// found again, are admitted.
	p2 := mustGet(t, a)
	if p2.URL != page.URL {
		t.Fatalf("after the rollback a got %s; want the page %s again", p2.URL, page.URL)
	}
	addAll(a, fromPage, queue.Added)
	if err := a.Finish(ctxT(t, 10*time.Second), p2); err != nil {
		t.Fatal(err)
	}
	// b notices the restart at its heartbeat; its lost links are admitted
	// again when another page finds them.
	select {
	case <-noticed["b"]:
	case <-ctxT(t, 30*time.Second).Done():
		t.Fatal("b did not notice the restart within 30s")
	}
	addAll(b, fromB, queue.Added)

	var crawled []string
	for range len(fromPage) + len(fromB) {
		it := mustGet(t, b)
		crawled = append(crawled, it.URL)
		b.Done(it)
	}
	if err := b.Join(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, it := range append(fromPage, fromB...) {
		want = append(want, it.URL)
	}
	sort.Strings(crawled)
	sort.Strings(want)
	if fmt.Sprint(crawled) != fmt.Sprint(want) {
		t.Fatalf("crawled %v after the rollback; want %v", crawled, want)
	}
}

// An Add answered before the cache was dropped is not cached after it: a
// reply from the Redis that lost the Add must not put it back.
func TestSeenCacheDropWins(t *testing.T) {
	c := newSeenCache(false)
	gen := c.generation() // an Add is sent
	c.reset()             // a restart is noticed before its reply is taken in
	c.addIf(gen, 7)
	if c.has(7) {
		t.Fatal("an answer from before the drop was cached")
	}
	c.addIf(c.generation(), 7)
	if !c.has(7) {
		t.Fatal("an answer after the drop was not cached")
	}
}

// A Crawl-delay interval and a Retry-After block set just before Redis
// crashed, and lost with its AOF's tail, are set again by the node that
// set them once it notices the restart: the crawler sets them only when
// they change, so they would stay lost, and the host be hit at the
// configured rate.
func TestRollbackRestoresControls(t *testing.T) {
	s := startRedis(t, persistent...)
	noticed := make(chan struct{}, 1)
	a := openNode(t, s, "controls", func(o *Options) {
		o.Heartbeat, o.DeadAfter = 100*time.Millisecond, time.Hour
		o.Warn = func(w string) {
			if strings.Contains(w, "redis restarted") {
				select {
				case noticed <- struct{}{}:
				default:
				}
			}
		}
	})
	aofCheckpoint(t, s)
	aof, keep := aofTail(t, s.rs.Dir)
	until := time.Now().Add(time.Hour)
	a.SetInterval(context.Background(), "slow", 1500*time.Millisecond)
	a.Block(context.Background(), "busy", until)
	a.SetInterval(context.Background(), "old", time.Second)
	a.SetInterval(context.Background(), "old", 0) // cleared again: stays cleared
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	s.rs.Kill(t)
	if err := os.Truncate(aof, keep); err != nil {
		t.Fatal(err)
	}
	// The precondition is read from the files, not from Redis: once it
	// is back, the node may notice and replay before a read.
	const p = "cd:{c:controls}:"
	for _, key := range []string{p + "h:slow", p + "h:busy"} {
		if aofHolds(t, s.rs.Dir, key) {
			t.Fatalf("%s survived the cut AOF; the test needs it lost", key)
		}
	}
	s.rs.Restart(t)
	ctx := ctxT(t, 30*time.Second)
	select {
	case <-noticed:
	case <-ctx.Done():
		t.Fatal("the restart was not noticed within 30s")
	}
	if iv, _ := s.rdb.HGet(ctx, p+"h:slow", "iv").Int64(); iv != 1_500_000 {
		t.Errorf("slow's interval after the rollback: %dµs; want 1500000", iv)
	}
	bu, _ := s.rdb.HGet(ctx, p+"h:busy", "bu").Int64()
	now, _ := s.rdb.Time(ctx).Result()
	if left := time.Duration(bu-now.UnixMicro()) * time.Microsecond; left < 59*time.Minute || left > time.Hour {
		t.Errorf("busy's block after the rollback ends in %v; want about an hour", left)
	}
	if n, _ := s.rdb.HExists(ctx, p+"h:old", "iv").Result(); n {
		t.Error("a cleared interval was set again")
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// aofHolds reports whether any file of the AOF in dir names key.
func aofHolds(t *testing.T, dir, key string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "appendonlydir", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(key)) {
			return true
		}
	}
	return false
}
