package redisq

import (
	"context"
	"fmt"
	"time"
)

// sleep waits for d, for wake to close, or for ctx or the Frontier to be
// done; it reports whether the Frontier and ctx are still live.
func (f *Frontier) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	case <-f.ctx.Done():
	}
	return ctx.Err() == nil && f.ctx.Err() == nil
}

// wakeChan returns the channel the next broadcast closes.
func (f *Frontier) wakeChan() <-chan struct{} {
	f.wakeMu.Lock()
	defer f.wakeMu.Unlock()
	return f.wake
}

// broadcast wakes every sleeping Join of this node, and one sleeping Get.
func (f *Frontier) broadcast() {
	f.wakeJoins()
	f.nudge()
}

// wakeJoins wakes every sleeping Join of this node.
func (f *Frontier) wakeJoins() {
	f.wakeMu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.wakeMu.Unlock()
}

// nudge gives the turn to one sleeping Get, or to the next Get to sleep.
func (f *Frontier) nudge() {
	select {
	case f.turn <- struct{}{}:
	default: // a turn is already waiting to be taken
	}
}

// doze is a Get's sleep after a claim found nothing to hand out: wait
// until the earliest host's time. Only one sleeping Get of the node
// keeps that time; the others wait for the turn, or maxWait, the bound on
// how late work queued by other nodes is seen.
func (f *Frontier) doze(ctx context.Context, wait time.Duration) {
	f.sleepMu.Lock()
	keeper := !f.timed
	f.timed = f.timed || keeper
	f.sleepers++
	f.sleepMu.Unlock()
	if !keeper {
		wait = maxWait
	}
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-f.turn:
	case <-ctx.Done():
	case <-f.ctx.Done():
	}
	t.Stop()
	f.sleepMu.Lock()
	f.sleepers--
	if keeper {
		f.timed = false
	}
	f.sleepMu.Unlock()
}

// passTurn wakes one more sleeping Get after this one claimed an item:
// another may be ready too.
func (f *Frontier) passTurn() {
	f.sleepMu.Lock()
	n := f.sleepers
	f.sleepMu.Unlock()
	if n > 0 {
		f.nudge()
	}
}

// Join blocks until nothing is queued or leased anywhere in the cluster,
// returning nil at once if so, or until ctx is done (ctx.Err()). It polls
// Redis every 100 ms, sending this node's acks left over first, and when
// this node's acks were applied or it queued work. After Close it returns ErrClosed; if the
// crawl's state vanished, an error wrapping ErrStateLost.
func (f *Frontier) Join(ctx context.Context) error {
	var flushed time.Time
	for {
		if f.usable(ctx) == nil && time.Since(flushed) >= joinPoll {
			// At every poll, not at every wake (the claims that wake it
			// carry this node's acks): so that a Done left waiting, were
			// the ack loop stalled, cannot keep Join waiting.
			f.settleAcks(ctx)
			flushed = time.Now()
		}
		if err := f.usable(ctx); err != nil {
			return err
		}
		wake := f.wakeChan()
		var res []int64
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, statsScript).Int64Slice()
			return err
		})
		if err != nil {
			if err := f.usable(ctx); err != nil {
				return err
			}
			return fmt.Errorf("redisq: join: %w", err)
		}
		if res[0] <= 0 {
			return nil
		}
		f.sleep(ctx, joinPoll, wake)
	}
}
