package redisq

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// SetInterval sets the least time between two request starts to host, for
// every node: an interval longer than 1/Rate replaces the rate with one
// request per interval (burst 1), and the next start is also at least the
// interval after the last one; a shorter one, 0 or a negative one restores
// the configured rate. The interval lasts until cleared. Errors go to Err.
func (f *Frontier) SetInterval(ctx context.Context, host string, d time.Duration) {
	us := int64(0)
	if d > 0 {
		us = (d + time.Microsecond - 1).Microseconds()
		if f.t > 0 && float64(us) <= f.t {
			us = 0
		}
	}
	for cur := f.maxIV.Load(); us > cur && !f.maxIV.CompareAndSwap(cur, us); cur = f.maxIV.Load() {
	}
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) { c.ivAt, c.iv = now, d })
	f.control(ctx, "set interval", intervalScript, host, us)
}

// Block makes no node hand out an item of host before until, measured as
// the duration from this node's clock added to Redis's. A block never
// shortens (a later Block with an earlier until is ignored) except by
// Unblock; a past until does nothing. Errors go to Err.
func (f *Frontier) Block(ctx context.Context, host string, until time.Time) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) {
		if c.blockAt.IsZero() || c.until.IsZero() || until.After(c.until) {
			c.until = until // the longest block since the last Unblock
		}
		c.blockAt = now
	})
	f.control(ctx, "block", blockScript, host, (d + time.Microsecond - 1).Microseconds())
}

// Unblock lifts any block on host at once, for every node. Errors go to
// Err.
func (f *Frontier) Unblock(ctx context.Context, host string) {
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) { c.blockAt, c.until = now, time.Time{} })
	f.control(ctx, "unblock", unblockScript, host)
}

// ctlKeep is how long before Redis's last reply a SetInterval or Block
// may have been made and still be lost with the AOF's tail (appendfsync
// everysec holds writes back for up to 2 s when the disk lags).
const ctlKeep = 5 * time.Second

// hostCtl is the latest SetInterval and Block (or Unblock) this node made
// for one host, and when.
type hostCtl struct {
	ivAt    time.Time // zero if none kept
	iv      time.Duration
	blockAt time.Time // zero if none kept
	until   time.Time // zero for an Unblock
}

// remember keeps a SetInterval (iv) or a Block or Unblock (block) for
// replayControls, and forgets, at most once a second, those older than
// ctlKeep before Redis's last reply: a rollback cannot have lost them.
func (f *Frontier) remember(host string, now time.Time, set func(*hostCtl)) {
	f.runMu.Lock()
	cut, noticed := f.runAt.Add(-ctlKeep), f.runID != ""
	f.runMu.Unlock()
	if !noticed {
		return // restarts go unnoticed (Open warned): nothing would be replayed
	}
	f.ctlMu.Lock()
	defer f.ctlMu.Unlock()
	c := f.ctls[host]
	if c == nil {
		c = &hostCtl{}
		f.ctls[host] = c
	}
	set(c)
	if now.Sub(f.ctlPrune) < time.Second {
		return
	}
	f.ctlPrune = now
	for h, c := range f.ctls {
		if c.ivAt.Before(cut) {
			c.ivAt = time.Time{}
		}
		if c.blockAt.Before(cut) {
			c.blockAt = time.Time{}
		}
		if c.ivAt.IsZero() && c.blockAt.IsZero() {
			delete(f.ctls, h)
		}
	}
}

// replayControls makes again the SetIntervals and Blocks (or Unblocks)
// this node made since from, after a Redis rollback that may have lost
// them: the crawler sets a host's Crawl-delay or autothrottle interval
// only when it changes, and a Retry-After once, so a lost one would stay
// lost. Each is idempotent (a Block never shortens; one already past is
// skipped).
func (f *Frontier) replayControls(from time.Time) {
	f.ctlMu.Lock()
	var ivs, blocks []string
	for h, c := range f.ctls {
		if !c.ivAt.IsZero() && !c.ivAt.Before(from) {
			ivs = append(ivs, h)
		}
		if !c.blockAt.IsZero() && !c.blockAt.Before(from) {
			blocks = append(blocks, h)
		}
	}
	f.ctlMu.Unlock()
	for _, h := range ivs {
		f.ctlMu.Lock()
		iv := f.ctls[h].iv
		f.ctlMu.Unlock()
		f.SetInterval(f.ctx, h, iv)
	}
	for _, h := range blocks {
		f.ctlMu.Lock()
		until := f.ctls[h].until
		f.ctlMu.Unlock()
		if until.IsZero() {
			f.Unblock(f.ctx, h)
		} else {
			f.Block(f.ctx, h, until)
		}
	}
}

// control runs one of the host-setting scripts, retried (they are
// idempotent) until ctx ends or the frontier closes, and wakes this node's
// Gets.
func (f *Frontier) control(ctx context.Context, what string, script *redis.Script, host string, args ...any) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.ctx, cancel)()
	if f.usable(ctx) != nil {
		return
	}
	err := f.retry(ctx, transient, func() error {
		return f.run(ctx, script, append([]any{host}, args...)...).Err()
	})
	switch {
	case err == nil:
		f.broadcast()
	case ctx.Err() == nil:
		f.fail(fmt.Errorf("redisq: %s %s: %w", what, host, err), zap.String("host", host), zap.String("what", what))
	case f.ctx.Err() == nil:
		// The caller gave up (its crawl is stopping): not the frontier's
		// failure, but the control was not made.
		f.log.Debug("redis control abandoned", zap.String("host", host), zap.String("what", what), zap.Error(err))
	}
}
