package redisq

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// Get blocks until some host may be fetched now on Redis's clock, then
// leases the oldest item of the host that became ready first, charging the
// host's rate limiter, and returns it with the lease id in ID. The caller
// must call Done with it within LeaseTTL, or it is handed out again. If ctx
// is done Get returns ctx.Err(); after Close, ErrClosed; if the crawl's
// state vanished, an error wrapping ErrStateLost. Transient Redis errors
// are retried for up to RetryFor (then the error wraps ErrUnavailable); a
// retry of a claim whose reply was lost hands that claim's lease back
// first, so nothing stays leased to no one. After a Redis restart Get
// hands nothing out for a quarantine (see the package doc).
func (f *Frontier) Get(ctx context.Context) (queue.Item, error) {
	for {
		if err := f.usable(ctx); err != nil {
			return queue.Item{}, err
		}
		id := leaseID()
		acks := f.acks.take()
		var res []any
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, claimScript, append([]any{f.node, f.leaseUS, reapBatch, id, f.maxIV.Load()}, ackArgs(acks)...)...).Slice()
			if err != nil && !unsent(err) {
				markRan(acks)
			}
			return err
		})
		if err != nil {
			f.unsentAcks(ctx, acks, err)
			f.acks.sent(acks)
			if err := f.usable(ctx); err != nil {
				return queue.Item{}, err
			}
			return queue.Item{}, fmt.Errorf("redisq: get: %w", err)
		}
		if len(res) < 2 {
			f.acks.sent(acks)
			return queue.Item{}, fmt.Errorf("redisq: get: malformed claim reply %v", res)
		}
		f.acked(acks, res[1], nil)
		f.acks.sent(acks)
		kind, _ := res[0].(int64)
		res = append(res[:1:1], res[2:]...) // the claim's own reply, as before acks were carried
		switch {
		case kind == 1 && len(res) >= 4:
			host, _ := res[1].(string)
			rec, _ := res[2].(string)
			if len(res) > 4 {
				// Before the item is returned: links its page yields are
				// then admitted against this Redis, not against a cache
				// of seen URLs a rollback emptied.
				run, _ := res[4].(string)
				f.noteRun(run)
			}
			f.hold(id)
			it, err := decode(rec, host, id)
			if err != nil {
				// Finish the lease so the bad record does not come back for ever.
				f.Done(queue.Item{Host: host, ID: id})
				return queue.Item{}, fmt.Errorf("redisq: get: lease %d of %s: %w", id, host, err)
			}
			if len(res) > 5 {
				// The smallest depth its URL is known at (with depths):
				// a shorter path found since it was queued.
				if d, ok := res[5].(int64); ok && d >= 0 && int(d) < it.Depth {
					it.Depth = int(d)
				}
			}
			if f.onClaim != nil {
				now, _ := res[3].(int64)
				f.onClaim(it, now)
			}
			f.passTurn()
			return it, nil
		case kind < 0:
			continue // the id is another node's lease: draw again
		}
		if len(res) > 2 {
			run, _ := res[2].(string)
			f.noteRun(run)
		}
		wait := maxWait
		if us, _ := res[1].(int64); us >= 0 && time.Duration(us)*time.Microsecond < maxWait {
			wait = time.Duration(us) * time.Microsecond
		}
		// A turn given during the claim is still in the channel, so work
		// queued meanwhile is not missed.
		f.doze(ctx, wait)
	}
}

// leaseID draws a lease id: random, so that the retry of a claim can name
// the lease its lost reply carried, and so that ids handed out just
// before a crash and lost with the AOF's tail are not handed out again
// (which a counter rolled back with the AOF would do). It is in [1, 2^53),
// exact as a Lua number; two leases in flight share an id with odds
// below n²/2^54.
func leaseID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return max(binary.LittleEndian.Uint64(b[:])&(1<<53-1), 1)
}

// noteRun records the run id of the Redis process a claim or heartbeat
// ran on. When it changed (Redis restarted or failed over) it drops the
// node's cache of URLs known to be seen, since the Adds of the writes the
// restart lost are undone, and warns. A late reply from a Redis process
// seen before is no restart.
func (f *Frontier) noteRun(run string) {
	if run == "" {
		return
	}
	f.runMu.Lock()
	old, oldAt := f.runID, f.runAt
	_, past := f.pastRun[run]
	changed := old != "" && old != run && !past
	if changed {
		f.pastRun[old] = struct{}{}
		// Dropped under runMu, so that no Admit's answer from the old
		// process lands in the cache after the drop (see seenCache).
		f.known.reset()
	}
	if !past {
		f.runID, f.runAt = run, time.Now()
	}
	f.runMu.Unlock()
	if changed {
		// The writes lost came after the old process's last reply, less
		// what its AOF had not written yet.
		f.replayControls(oldAt.Add(-ctlKeep))
	}
	if changed && f.warn != nil {
		f.warn(fmt.Sprintf("redis restarted or failed over (run id %.8s…, was %.8s…): the crawl's last second of writes may be lost; claims pause for the longest host interval (at most 60s) so that no host is hit early, and this node's cache of seen URLs is dropped", run, old))
	}
}

// hold records that this node holds lease id, for the heartbeat to renew.
func (f *Frontier) hold(id uint64) {
	f.heldMu.Lock()
	f.held[id] = struct{}{}
	f.heldMu.Unlock()
}

// unhold stops renewing lease id: its item is finished or handed back, or
// will be once the ack is sent. A method that hands an item back must
// call it too, or the lease is renewed (uselessly) until Close.
func (f *Frontier) unhold(id uint64) {
	f.heldMu.Lock()
	delete(f.held, id)
	f.heldMu.Unlock()
}

// heldIDs returns the leases this node holds, as heartbeat arguments.
func (f *Frontier) heldIDs() []any {
	f.heldMu.Lock()
	defer f.heldMu.Unlock()
	ids := make([]any, 0, len(f.held))
	for id := range f.held {
		ids = append(ids, id)
	}
	return ids
}

// Release hands the lease of an item returned by Get back at once, without
// finishing it, for an item whose outcome could not be recorded (or that the
// crawl stopped before): the item goes back to the front of its host's list
// for any node to claim, and stays pending, so Join still waits for it. Only
// it.ID is read. Release never acks: if its call fails (after RetryFor) the
// error is kept for Err, and the lease, no longer renewed, is handed back
// by Close or expires after LeaseTTL. After Close it does nothing, Close having handed
// the lease back. It panics on an item with ID 0, which Get never returns.
func (f *Frontier) Release(it queue.Item) {
	if it.ID == 0 {
		panic("redisq: Release of an item Get did not return (ID 0), host " + it.Host)
	}
	// Not renewed any more: if the hand-back below fails, the lease
	// expires and the item is claimed again.
	f.unhold(it.ID)
	if f.acks.closed() || f.usable(f.ctx) != nil {
		return // Close hands the lease back, or the crawl is lost
	}
	// A repeat finds the lease gone and does nothing.
	err := f.retry(f.ctx, transient, func() error {
		return f.run(f.ctx, handbackScript, it.ID).Err()
	})
	if err != nil {
		if f.ctx.Err() == nil {
			f.fail(fmt.Errorf("redisq: release %s (lease %d): %w", it.URL, it.ID, err), zap.String("host", it.Host), zap.String("what", "release"))
		}
		return
	}
	f.broadcast()
}
