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

// Bounds of the shared robots.txt outcomes.
const (
	// MaxRobotsEntry is the largest outcome SaveRobots shares: a larger
	// one (a robots.txt body near the 500 KiB a crawler reads) is not
	// stored, and each node fetches that robots.txt itself.
	MaxRobotsEntry = 64 << 10
	// MaxRobotsTTL is the longest an outcome is kept, whatever the ttl
	// SaveRobots is given: every entry expires, so an idle authority's
	// goes.
	MaxRobotsTTL = 24 * time.Hour
	// DefaultRobotsMemory is Options.RobotsMemory's default.
	DefaultRobotsMemory = 64 << 20
)

// robotsOverhead is what an entry costs in Redis besides its data and
// three copies of its authority (key, index, size): object headers and
// the index's share, roughly.
const robotsOverhead = 200

// SaveRobots stores data as authority's robots.txt outcome for every node
// of the crawl, for ttl (at least 1 ms, at most MaxRobotsTTL), replacing
// what was there. Sharing is bounded: an outcome larger than
// MaxRobotsEntry is not stored (authority's older one is removed), and
// the outcomes together take at most Options.RobotsMemory, about: to
// make room, those closest to expiring are removed first. The check and
// the store are one script. Transient Redis errors are retried; a repeat
// only stores the same again.
func (f *Frontier) SaveRobots(ctx context.Context, authority string, data []byte, ttl time.Duration) error {
	if err := f.usable(ctx); err != nil {
		return err
	}
	ttl = min(max(ttl, time.Millisecond), MaxRobotsTTL)
	if len(data) > MaxRobotsEntry {
		data = nil // only remove the older outcome
	}
	err := f.retry(ctx, transient, func() error {
		return f.run(ctx, saveRobotsScript, authority, data, ttl.Microseconds(), f.robotsMem, robotsOverhead).Err()
	})
	if err != nil {
		return fmt.Errorf("redisq: save robots.txt of %s: %w", authority, err)
	}
	return nil
}
