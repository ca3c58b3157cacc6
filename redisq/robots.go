package redisq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// robotsKey holds the robots.txt outcome of authority (scheme://host).
func (f *Frontier) robotsKey(authority string) string {
	return f.prefix + "r:" + authority
}

// LoadRobots returns what SaveRobots stored for authority (a robots.txt
// outcome, opaque to the Frontier) and how much longer it holds, on Redis's
// clock; data is nil when nothing is stored or it has expired. Transient
// Redis errors are retried as for Add.
func (f *Frontier) LoadRobots(ctx context.Context, authority string) (data []byte, ttl time.Duration, err error) {
	if err := f.usable(ctx); err != nil {
		return nil, 0, err
	}
	key := f.robotsKey(authority)
	err = f.retry(ctx, transient, func() error {
		var get *redis.StringCmd
		var left *redis.DurationCmd
		_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get, left = p.Get(ctx, key), p.PTTL(ctx, key)
			return nil
		})
		switch {
		case errors.Is(err, redis.Nil):
			data, ttl = nil, 0
			return nil
		case err != nil:
			return err
		}
		data, ttl = []byte(get.Val()), left.Val()
		if ttl <= 0 { // expired between the two reads, or kept forever (not ours)
			data, ttl = nil, 0
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("redisq: load robots.txt of %s: %w", authority, err)
	}
	return data, ttl, nil
}

// SaveRobots stores data as authority's robots.txt outcome for every node
// of the crawl, for ttl (at least 1 ms), replacing what was there.
// Transient Redis errors are retried; a repeat only stores the same again.
func (f *Frontier) SaveRobots(ctx context.Context, authority string, data []byte, ttl time.Duration) error {
	if err := f.usable(ctx); err != nil {
		return err
	}
	ttl = max(ttl, time.Millisecond)
	err := f.retry(ctx, transient, func() error {
		return f.rdb.Set(ctx, f.robotsKey(authority), data, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redisq: save robots.txt of %s: %w", authority, err)
	}
	return nil
}
