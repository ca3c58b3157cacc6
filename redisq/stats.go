package redisq

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/queue"
)

// Snapshot is the cluster's state as this node last read it from Redis:
// the heartbeat reads it after each beat, so that Stats and the live
// nodes served to /metrics and /status never wait on Redis.
type Snapshot struct {
	// Stats is what Stats returns.
	Stats queue.Stats
	// LiveNodes are the crawl's live nodes, sorted, as LiveNodes returns
	// them.
	LiveNodes []string
	// At is when the reading began, on this node's clock; zero before the
	// first reading.
	At time.Time
}

// snapshots keeps the latest Snapshot. A reading is kept only if no
// reading that began after it was kept already, so that a slow heartbeat
// reading cannot hide a later one (Refresh).
type snapshots struct {
	mu    sync.Mutex
	last  Snapshot // guarded by mu
	begun uint64   // guarded by mu: readings begun
	kept  uint64   // guarded by mu: the number of the reading last kept
}

// begin numbers a new reading.
func (s *snapshots) begin() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begun++
	return s.begun
}

// keep stores reading n unless a later one was stored.
func (s *snapshots) keep(n uint64, snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.kept {
		s.last, s.kept = snap, n
	}
}

// latest returns the latest reading kept.
func (s *snapshots) latest() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.last
	snap.LiveNodes = slices.Clone(snap.LiveNodes)
	return snap
}

// Stats returns the cluster's frontier as the heartbeat last read it:
// Queued and InFlight (leases) over all nodes, Hosts with queued items,
// HostsWaiting (of those, the ones not ready then: paced, blocked or at
// their in-flight cap), and Seen (distinct URLs added). Blocked, Spilled
// and MemoryBytes are not tracked (0). It never waits on Redis: the
// reading is at most one heartbeat (Options.Heartbeat, or less, see
// LeaseBeats) old while Redis answers, and counts every Done this node
// made before it began (the heartbeat sends the acks left over first);
// while Redis does not answer, the last reading stays (Snapshot says
// when it was made). It is the zero Stats until the first reading,
// which Open makes.
func (f *Frontier) Stats() queue.Stats {
	return f.snaps.latest().Stats
}

// Snapshot returns the cluster's state as the heartbeat last read it (see
// Stats for how old it may be). It never waits on Redis.
func (f *Frontier) Snapshot() Snapshot {
	return f.snaps.latest()
}

// Refresh reads a new Snapshot from Redis now, after sending this node's
// acks left over, so that it counts every Done made before it: for a
// caller that must see its own changes at once (a test, a final report)
// rather than within a heartbeat. The heartbeat calls it after each beat.
// On error the previous Snapshot stays.
func (f *Frontier) Refresh(ctx context.Context) error {
	n := f.snaps.begin()
	at := time.Now()
	f.settleAcks(ctx)
	st, err := f.readStats(ctx)
	if err != nil {
		return err
	}
	live, err := f.LiveNodes(ctx)
	if err != nil {
		return err
	}
	f.snaps.keep(n, Snapshot{Stats: st, LiveNodes: live, At: at})
	return nil
}

// readStats reads the cluster's counts (see Stats) from Redis.
func (f *Frontier) readStats(ctx context.Context) (queue.Stats, error) {
	res, err := f.run(ctx, statsScript).Int64Slice()
	if err != nil {
		return queue.Stats{}, fmt.Errorf("redisq: stats: %w", f.check(err))
	}
	pending, seenN, leases, active, ready := res[0], res[1], res[2], res[3], res[4]
	return queue.Stats{
		Queued:       int(max(pending-leases, 0)),
		InFlight:     int(leases),
		Hosts:        int(active),
		HostsWaiting: int(max(active-ready, 0)),
		Seen:         int(seenN),
	}, nil
}

// LiveNodes returns the ids of the crawl's nodes whose last heartbeat, on
// Redis's clock, is more recent than the dead-node timeout, sorted. It
// asks Redis; Snapshot has the heartbeat's last reading without waiting.
func (f *Frontier) LiveNodes(ctx context.Context) ([]string, error) {
	now, err := f.rdb.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redisq: live nodes: %w", err)
	}
	since := now.UnixMicro() - f.deadUS
	nodes, err := f.rdb.ZRangeByScore(ctx, f.keys[6], &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisq: live nodes: %w", err)
	}
	sort.Strings(nodes)
	return nodes, nil
}
