package redisq

import (
	"context"
	"fmt"
)

// HostFailed counts one more failed request to host, by any node, and
// returns how many failed in a row across the cluster (since the last
// success HostSucceeded reported). A Redis error that may have come after
// the count was made is not retried: one failure is never counted twice.
func (f *Frontier) HostFailed(ctx context.Context, host string) (int, error) {
	if err := f.usable(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := f.retry(ctx, unsent, func() error {
		var err error
		n, err = f.rdb.HIncrBy(ctx, f.prefix+"hf", host, 1).Result()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redisq: count a failure of %s: %w", host, err)
	}
	return int(n), nil
}

// HostSucceeded ends host's run of failed requests across the cluster. It
// costs no call of its own: the next Done or Finish of an item of host
// carries it, so call it before finishing the item whose request
// succeeded.
func (f *Frontier) HostSucceeded(host string) {
	f.clearMu.Lock()
	f.clears[host] = struct{}{}
	f.clearMu.Unlock()
}

// takeClear reports, once, whether HostSucceeded named host since the last
// ack of its items.
func (f *Frontier) takeClear(host string) bool {
	f.clearMu.Lock()
	defer f.clearMu.Unlock()
	if _, ok := f.clears[host]; !ok {
		return false
	}
	delete(f.clears, host)
	return true
}
