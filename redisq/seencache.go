package redisq

import (
	"sync"

	"github.com/crawld/crawld/internal/seen"
)

// seenCacheSize is how many fingerprints one generation of a seenCache
// holds: two generations take at most about 2 × 14 bytes × 256 Ki ≈ 7 MB.
const seenCacheSize = 1 << 18

// seenCache remembers fingerprints Redis has confirmed as seen, so that a
// node skips the round trip for links it already knows: most links of a
// site point at pages found long ago. It is always right when it answers
// "seen", since the shared seen set only grows; it forgets, so it stays
// bounded, by keeping two generations and dropping the older one whenever
// the newer fills. Safe for concurrent use.
type seenCache struct {
	mu       sync.Mutex
	cur, old *seen.Set
}

func newSeenCache() *seenCache {
	return &seenCache{cur: seen.New(seenCacheSize), old: seen.New(0)}
}

// has reports whether fp is known to be in the shared seen set.
func (c *seenCache) has(fp uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.HasFingerprint(fp) || c.old.HasFingerprint(fp)
}

// add records that fp is in the shared seen set.
func (c *seenCache) add(fp uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Len() >= seenCacheSize {
		c.old, c.cur = c.cur, c.old
		c.cur.Reset()
	}
	c.cur.AddFingerprint(fp)
}
