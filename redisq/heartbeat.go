package redisq

import (
	"context"
	"time"
)

// beatLoop is the heartbeat: it records that the node lives, renews the
// leases it holds and hands back the leases of dead nodes, until Close.
func (f *Frontier) beatLoop() {
	defer close(f.beatDone)
	t := time.NewTicker(f.beat)
	defer t.Stop()
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
			_ = f.check(err)
			continue
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
	}
}
