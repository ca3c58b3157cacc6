package redisq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// unsent reports whether err means the command never reached Redis, or
// Redis refused it without running it: safe to send again.
func unsent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// transient reports whether err is a failure of the connection, after
// which the command may or may not have run.
func transient(err error) bool {
	if unsent(err) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) || errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true // network errors, EOF, timeouts
}

// retry calls op until it succeeds, fails with an error safe does not
// accept, or ctx or the Frontier is done, returning op's last error
// through check; or until RetryFor has passed, returning an error that
// wraps ErrUnavailable and op's last error. It backs off from 20 ms to
// 1 s, never sleeping past RetryFor.
func (f *Frontier) retry(ctx context.Context, safe func(error) bool, op func() error) error {
	start := time.Now()
	deadline := start.Add(f.retryFor)
	wait := 20 * time.Millisecond
	for {
		err := op()
		if err == nil || !safe(err) || ctx.Err() != nil {
			return f.check(err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w for %v (RetryFor %v): %w", ErrUnavailable, time.Since(start).Round(time.Millisecond), f.retryFor, err)
		}
		if !f.sleep(ctx, min(wait, left), nil) {
			return f.check(err)
		}
		wait = min(2*wait, time.Second)
	}
}
