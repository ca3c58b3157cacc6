package redisq

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/queue"
)

// A restart as the scripts see it (another run id in meta, heartbeats 2 s
// old as after 2 s away): claims pause for burst × 1/rate, or the longest
// interval set, capped at 60 s; leases and heartbeats move by the 2 s, so
// no lease expires and no node is taken for dead for the downtime.
func TestQuarantineOnRunChange(t *testing.T) {
	s := startRedis(t)
	pol := func(o *Options) {
		o.Config = queue.Config{Rate: 10, Burst: 3, PerHostConcurrency: 4}
		o.LeaseTTL = 10 * time.Second
	}
	a, b := openNode(t, s, "quar", pol), openNode(t, s, "quar", pol)
	for i := range 6 {
		mustAdd(t, a, item("h", i), 0, queue.Added)
	}
	x := mustGet(t, a)
	ctx := ctxT(t, 20*time.Second)
	const p = "cd:{c:quar}:"
	restart := func(away time.Duration) int64 {
		t.Helper()
		n, _ := s.rdb.HGet(ctx, p+"stats", "restarts").Int64()
		_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
			tx.HSet(ctx, p+"meta", "run", "0000000000000000000000000000000000000000")
			for _, id := range []string{a.NodeID(), b.NodeID()} {
				tx.ZIncrBy(ctx, p+"nodes", float64(-away.Microseconds()), id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for { // the next heartbeat or claim notices
			if m, _ := s.rdb.HGet(ctx, p+"stats", "restarts").Int64(); m > n {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("restart not noticed")
			}
			time.Sleep(5 * time.Millisecond)
		}
		m, _ := s.rdb.HMGet(ctx, p+"meta", "restarted", "qu").Result()
		from, _ := strconv.ParseInt(fmt.Sprint(m[0]), 10, 64)
		until, _ := strconv.ParseInt(fmt.Sprint(m[1]), 10, 64)
		return until - from
	}
	before, _ := s.rdb.ZScore(ctx, p+"lease", strconv.FormatUint(x.ID, 10)).Result()
	if q := restart(2 * time.Second); q != 300_000 {
		t.Fatalf("quarantine %dµs; want burst 3 × 100ms", q)
	}
	start := time.Now()
	b.Done(mustGet(t, b))
	t.Logf("Get after the restart waited %v", time.Since(start).Round(time.Millisecond))
	after, _ := s.rdb.ZScore(ctx, p+"lease", strconv.FormatUint(x.ID, 10)).Result()
	if moved := time.Duration(after-before) * time.Microsecond; moved < 1900*time.Millisecond || moved > 2500*time.Millisecond {
		t.Errorf("lease expiry moved by %v; want the 2s Redis was away", moved)
	}
	if live, err := a.LiveNodes(ctx); err != nil || len(live) != 2 {
		t.Errorf("LiveNodes = %v, %v; want both", live, err)
	}
	a.Done(x)
	if a.Stale() != 0 {
		t.Error("the lease held across the restart was handed back")
	}

	a.SetInterval(context.Background(), "h", 700*time.Millisecond)
	if q := restart(0); q != 700_000 {
		t.Fatalf("quarantine %dµs; want the 700ms interval", q)
	}
	a.SetInterval(context.Background(), "h", 2*time.Minute)
	if q := restart(0); q != 60_000_000 {
		t.Fatalf("quarantine %dµs; want the 60s cap", q)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Fatal(a.Err(), b.Err())
	}
}

// A node's interval counts for the quarantine even if the write of meta's
// longest interval was lost: the node passes its own.
func TestQuarantineNodeInterval(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "qnode", func(o *Options) { o.Heartbeat = time.Hour; o.DeadAfter = 2 * time.Hour })
	f.SetInterval(context.Background(), "h", 400*time.Millisecond)
	ctx := ctxT(t, 10*time.Second)
	const p = "cd:{c:qnode}:"
	s.rdb.HDel(ctx, p+"meta", "miv")
	s.rdb.HSet(ctx, p+"meta", "run", "x")
	mustAdd(t, f, item("h", 0), 0, queue.Added)
	start := time.Now()
	f.Done(mustGet(t, f))
	if d := time.Since(start); d < 390*time.Millisecond {
		t.Errorf("Get after the restart took %v; want the 400ms quarantine", d)
	}
}
