package redisq

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
)

// scriptCalls returns how many EVALSHA calls the server has run.
func scriptCalls(t *testing.T, s *server) int {
	t.Helper()
	info, err := s.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// TestSeenCacheSkipsRedis checks that a node answers a second Add of a URL
// it already saw in the shared seen set without asking Redis, while another
// node still learns it from Redis.
func TestSeenCacheSkipsRedis(t *testing.T) {
	s := startRedis(t)
	// No heartbeats within the test: they are script calls too, which a
	// slow machine would let fall between the counts.
	quiet := func(o *Options) { o.Heartbeat, o.DeadAfter = time.Hour, 2*time.Hour }
	a, b := openNode(t, s, "cache", quiet), openNode(t, s, "cache", quiet)
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	before := scriptCalls(t, s)
	mustAdd(t, a, item("h", 1), 0, queue.Duplicate)
	if after := scriptCalls(t, s); after != before {
		t.Errorf("a repeated Add on the node that added the URL ran %d scripts, want 0", after-before)
	}
	mustAdd(t, b, item("h", 1), 0, queue.Duplicate) // from Redis
	mustAdd(t, b, item("h", 1), 0, queue.Duplicate) // from b's cache
	if after := scriptCalls(t, s); after != before+1 {
		t.Errorf("the other node ran %d scripts for two Adds of a seen URL, want 1", after-before)
	}
	// A URL refused for the budget is not in the seen set: it must not be
	// cached as seen.
	mustAdd(t, a, item("h", 2), 1, queue.Added) // the budget's one page
	mustAdd(t, a, item("h", 3), 1, queue.OverLimit)
	mustAdd(t, a, item("h", 3), 0, queue.Added)
}

// TestSeenCacheBounded checks the two generations: a fingerprint is kept
// through one turnover and forgotten after two, and the cache never holds
// more than two generations.
func TestSeenCacheBounded(t *testing.T) {
	c := newSeenCache(false)
	c.addIf(0, 1)
	for fp := uint64(2); fp < seenCacheSize+2; fp++ {
		c.addIf(0, fp)
	}
	if !c.has(1) {
		t.Error("forgot a fingerprint after one turnover")
	}
	for fp := uint64(seenCacheSize + 2); fp < 2*seenCacheSize+2; fp++ {
		c.addIf(0, fp)
	}
	if c.has(1) {
		t.Error("kept a fingerprint after two turnovers")
	}
	if n := c.cur.Len() + c.old.Len(); n > 2*seenCacheSize {
		t.Errorf("holds %d fingerprints, want ≤ %d", n, 2*seenCacheSize)
	}
}
