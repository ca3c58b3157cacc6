package crawler

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/sitemap"
)

// maxSitemapNesting is how deep sitemap index files may nest.
const maxSitemapNesting = 3

// sitemapBatch is how many of a sitemap's URLs are admitted at a time. A
// sitemap may list 50,000: parsing them all before admitting any, or
// admitting them in one frontier call (one Redis script), would hold
// memory, or Redis, for no gain.
const sitemapBatch = 1000

// queueSitemaps queues the sitemaps an authority's robots.txt lists, and its
// /sitemap.xml, as items paced like its pages. A sitemap must be on an
// allowed host and scheme; its own extension (.xml, .gz) is not checked.
// They count against the authority's host's max_sitemaps_per_host.
func (c *Crawler) queueSitemaps(ctx context.Context, authority string, listed []string) error {
	_, host, _ := strings.Cut(authority, "://")
	for _, raw := range append(listed, authority+"/sitemap.xml") {
		if err := c.queueSitemap(ctx, raw, 0, host); err != nil {
			return err
		}
	}
	return nil
}

// queueSitemap queues the sitemap at raw, found at nesting, if it passes the
// filter and it is new and within the max_sitemaps_per_host of the host
// whose robots.txt or index file listed it (by): wherever a listed sitemap
// is, the host that listed it pays for it, so that an index cannot escape
// the cap by listing sitemaps on ever new hosts.
func (c *Crawler) queueSitemap(ctx context.Context, raw string, nesting int, by string) error {
	u, err := filter.Parse(raw)
	if err != nil {
		return nil
	}
	if reason := c.rules.Load().Check(u); reason != filter.ReasonOK && reason != filter.ReasonExtension {
		c.log.Debug("sitemap rejected", zap.String("url", raw), zap.Stringer("reason", reason))
		return nil
	}
	ok, first := c.sitemaps.take(by, c.cfg.MaxSitemapsPerHost)
	if !ok {
		c.metrics.reject("max_sitemaps_per_host")
		if first {
			c.log.Warn("sitemaps capped: no more are read for this host", zap.String("host", by),
				zap.Int("max_sitemaps_per_host", c.cfg.MaxSitemapsPerHost), zap.String("url", raw))
		}
		return nil
	}
	admissions, err := c.enqueue(ctx, []queue.Item{{URL: u.String(), Host: u.Host, Depth: nesting, Kind: queue.KindSitemap}}, false)
	if err != nil || admissions[0] != queue.Added {
		c.sitemaps.give(by)
	}
	return err
}

// readSitemap admits the page URLs of a fetched sitemap as if they were
// seeds, and queues the sitemaps an index lists.
func (c *Crawler) readSitemap(ctx context.Context, it queue.Item, resp *response) error {
	if resp.status != http.StatusOK {
		c.log.Debug("no sitemap", zap.String("url", it.URL), zap.Int("status", resp.status))
		return nil
	}
	doc, err := sitemap.Parse(bytes.NewReader(resp.body), sitemap.MaxSize)
	if err != nil {
		c.log.Warn("sitemap read in part", zap.String("url", it.URL), zap.Error(err),
			zap.Int("urls", len(doc.URLs)), zap.Bool("truncated", errors.Is(err, sitemap.ErrTooLarge) || errors.Is(err, sitemap.ErrTooManyURLs)))
	}
	urls := make([]*url.URL, 0, min(len(doc.URLs), sitemapBatch))
	for batch := range slices.Chunk(doc.URLs, sitemapBatch) {
		urls = urls[:0]
		for _, raw := range batch {
			if u, err := filter.Parse(raw); err == nil {
				urls = append(urls, u)
			}
		}
		if err := c.admitLinks(ctx, urls, 0, ""); err != nil {
			return err
		}
	}
	if it.Depth < maxSitemapNesting {
		for _, raw := range doc.Sitemaps {
			if err := c.queueSitemap(ctx, raw, it.Depth+1, it.Host); err != nil {
				return err
			}
		}
	}
	return nil
}

// sitemapBudget counts the sitemaps queued because of each host, for
// max_sitemaps_per_host. It is kept for the life of the crawler: a small
// entry per host whose robots.txt or index files listed sitemaps.
type sitemapBudget struct {
	mu    sync.Mutex // guards hosts
	hosts map[string]*sitemapCount
}

type sitemapCount struct {
	taken  int  // sitemaps queued, or being queued, because of the host
	warned bool // the host's first refusal was reported
}

// take reserves one of the limit (> 0; else there is no cap) sitemaps of
// host. It reports whether one was left, and, when none was, whether this
// is the first refusal for host.
func (b *sitemapBudget) take(host string, limit int) (ok, first bool) {
	if limit <= 0 {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hosts == nil {
		b.hosts = make(map[string]*sitemapCount)
	}
	n := b.hosts[host]
	if n == nil {
		n = &sitemapCount{}
		b.hosts[host] = n
	}
	if n.taken >= limit {
		first, n.warned = !n.warned, true
		return false, first
	}
	n.taken++
	return true, false
}

// give hands back a reservation take made whose sitemap was not queued (it
// had been seen before).
func (b *sitemapBudget) give(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.hosts[host]; n != nil && n.taken > 0 {
		n.taken--
	}
}
