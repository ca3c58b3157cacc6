package redisq

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// beatLoop is the heartbeat: it records that the node lives, renews the
// leases it holds and hands back the leases of dead nodes, then reads the
// Snapshot that Stats serves, until Close.
func (f *Frontier) beatLoop() {
	defer close(f.beatDone)
	t := time.NewTicker(f.beat)
	defer t.Stop()
	missed := 0 // beats missed in a row
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.noBeat:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(f.ctx, min(callLimit, time.Duration(f.deadUS)*time.Microsecond/2))
		args := append([]any{f.node, f.deadUS, reapNodes, f.maxIV.Load(), f.leaseUS}, f.heldIDs()...)
		res, err := f.run(ctx, heartbeatScript, args...).Slice()
		cancel()
		if err != nil {
			// A missed beat is retried at the next tick; only a lost crawl
			// is final (check records it for Err).
			err = f.check(err)
			if missed++; missed == 1 && f.ctx.Err() == nil {
				f.log.Warn("redis heartbeat failed: this node's leases are not renewed until a beat succeeds", zap.Error(err))
			}
			continue
		}
		if missed > 0 {
			f.log.Info("redis heartbeat resumed", zap.Int("missed", missed))
			missed = 0
		}
		if len(res) < 3 {
			continue
		}
		if run, _ := res[2].(string); run != "" {
			f.noteRun(run)
		}
		if n, _ := res[1].(int64); n > 0 {
			f.broadcast() // leases of a dead node were queued again
		}
		// Within a quarter of DeadAfter, so that a slow reading cannot
		// hold the next beat back long enough for this node to look dead.
		ctx, cancel = context.WithTimeout(f.ctx, min(callLimit, time.Duration(f.deadUS)*time.Microsecond/4))
		if err := f.Refresh(ctx); err != nil && f.ctx.Err() == nil {
			// The last Snapshot stays; the next beat reads again.
			f.log.Debug("redis stats not read", zap.Error(err))
		}
		cancel()
	}
}
