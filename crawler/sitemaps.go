package crawler

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/sitemap"
)

// maxSitemapNesting is how deep sitemap index files may nest.
const maxSitemapNesting = 3

// queueSitemaps queues the sitemaps an authority's robots.txt lists, and its
// /sitemap.xml, as items paced like its pages. A sitemap must be on an
// allowed host and scheme; its own extension (.xml, .gz) is not checked.
func (c *Crawler) queueSitemaps(ctx context.Context, authority string, listed []string) error {
	for _, raw := range append(listed, authority+"/sitemap.xml") {
		if err := c.queueSitemap(ctx, raw, 0); err != nil {
			return err
		}
	}
	return nil
}

func (c *Crawler) queueSitemap(ctx context.Context, raw string, nesting int) error {
	u, err := filter.Parse(raw)
	if err != nil {
		return nil
	}
	if reason := c.rules.Load().Check(u); reason != filter.ReasonOK && reason != filter.ReasonExtension {
		c.log.Debug("sitemap rejected", zap.String("url", raw), zap.Stringer("reason", reason))
		return nil
	}
	_, err = c.enqueue(ctx, queue.Item{URL: u.String(), Host: u.Host, Depth: nesting, Kind: queue.KindSitemap}, false)
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
	urls := make([]*url.URL, 0, len(doc.URLs))
	for _, raw := range doc.URLs {
		if u, err := filter.Parse(raw); err == nil {
			urls = append(urls, u)
		}
	}
	if err := c.admitLinks(ctx, urls, 0); err != nil {
		return err
	}
	if it.Depth < maxSitemapNesting {
		for _, raw := range doc.Sitemaps {
			if err := c.queueSitemap(ctx, raw, it.Depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
