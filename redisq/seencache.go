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
//
// In a crawl that keeps depths (Options.MaxDepth) it also keeps, with
// each fingerprint, a depth the URL is known to have in Redis or less
// (Redis only ever lowers it, a rollback aside), so that a link found at
// a smaller depth still goes to Redis, which may lower it (Shallower):
// one more byte per slot.
type seenCache struct {
	mu       sync.Mutex
	cur, old *seen.Set
	resets   uint64 // drops so far: the cache's generation
}

// unknownDepth is the cached depth of a URL known to be seen at a depth
// not known (it was admitted as a sitemap): any page link to it goes to
// Redis.
const unknownDepth = 0x7f

func newSeenCache(depths bool) *seenCache {
	if depths {
		return &seenCache{cur: seen.NewWithValues(seenCacheSize), old: seen.NewWithValues(0)}
	}
	return &seenCache{cur: seen.New(seenCacheSize), old: seen.New(0)}
}

// has reports whether fp is known to be in the shared seen set.
func (c *seenCache) has(fp uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.HasFingerprint(fp) || c.old.HasFingerprint(fp)
}

// depth returns the smallest depth cached with fp (see addAt), and
// whether fp is cached; without depths it is 0 for a cached fp.
func (c *seenCache) depth(fp uint64) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.depthLocked(fp)
}

func (c *seenCache) depthLocked(fp uint64) (int, bool) {
	v, ok := c.cur.Value(fp)
	if w, ok2 := c.old.Value(fp); ok2 && (!ok || w < v) {
		v, ok = w, true
	}
	return int(v), ok
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

// addAt is addIf for a cache made with depths: it records that fp's URL
// has depth d or less in Redis (unknownDepth if its depth is not known),
// keeping the smaller of d and a depth cached before.
func (c *seenCache) addAt(gen, fp uint64, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resets != gen {
		return
	}
	d = min(max(d, 0), unknownDepth)
	if old, ok := c.depthLocked(fp); ok && old < d {
		d = old
	}
	if c.cur.Len() >= seenCacheSize {
		c.old, c.cur = c.cur, c.old
		c.cur.Reset()
	}
	c.cur.SetValue(fp, uint8(d))
}
