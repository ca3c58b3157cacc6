package redisq

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/crawld/crawld/queue"
	"github.com/redis/go-redis/v9"
)

// Stats returns a snapshot of the cluster's frontier: Queued and InFlight
// (leases) over all nodes, Hosts with queued items, HostsWaiting (of those,
// the ones not ready now: paced, blocked or at their in-flight cap), and
// Seen (distinct URLs added), after sending this node's acks left over.
// Blocked, Spilled and MemoryBytes are not tracked (0). If Redis cannot be read within 10 s it returns the zero
// Stats.
func (f *Frontier) Stats() queue.Stats {
	ctx, cancel := context.WithTimeout(f.ctx, callLimit)
	defer cancel()
	f.settleAcks(ctx)
	res, err := f.run(ctx, statsScript).Int64Slice()
	if err != nil {
		_ = f.check(err)
		return queue.Stats{}
	}
	pending, seenN, leases, active, ready := res[0], res[1], res[2], res[3], res[4]
	return queue.Stats{
		Queued:       int(max(pending-leases, 0)),
		InFlight:     int(leases),
		Hosts:        int(active),
		HostsWaiting: int(max(active-ready, 0)),
		Seen:         int(seenN),
	}
}

// LiveNodes returns the ids of the crawl's nodes whose last heartbeat, on
// Redis's clock, is more recent than the dead-node timeout, sorted.
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
