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
// site point at pages found long ago. The shared seen set only grows,
// except when Redis restarts on an AOF that lost its last writes: the
// node then drops the whole cache (reset) when it notices the restart.
// An answer Redis gave before the drop is only cached if no drop happened
// since the call was sent (addIf with the generation read before it), so
// no URL whose admission a rollback undid stays cached as seen. It
// forgets, so it stays bounded, by keeping two generations and dropping
// the older one whenever the newer fills. Safe for concurrent use.
type seenCache struct {
	mu       sync.Mutex
	cur, old *seen.Set
	resets   uint64 // drops so far: the cache's generation
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

// generation returns the number of drops so far, to pass to addIf.
func (c *seenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

// reset forgets every fingerprint.
func (c *seenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets++
	c.cur.Reset()
	c.old.Reset()
}

// addIf records that fp is in the shared seen set, as Redis answered a
// call sent when the cache's generation was gen; it does nothing if the
// cache was dropped since.
func (c *seenCache) addIf(gen, fp uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resets != gen {
		return
	}
	if c.cur.Len() >= seenCacheSize {
		c.old, c.cur = c.cur, c.old
		c.cur.Reset()
	}
	c.cur.AddFingerprint(fp)
}
