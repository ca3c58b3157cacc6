package crawler

import (
	"context"
	"fmt"
	"net/url"

	"go.uber.org/zap"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
)

// admitSeeds admits the configured seeds; those already seen (a resumed
// crawl) are skipped.
func (c *Crawler) admitSeeds(ctx context.Context) error {
	for _, seed := range c.cfg.Seeds {
		u, err := filter.Parse(seed)
		if err != nil {
			return fmt.Errorf("seed %q: %w", seed, err)
		}
		if it, ok := c.candidate(u, 0); ok {
			if _, err := c.enqueue(ctx, []queue.Item{it}, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// admitLinks admits the links of a page (or the URLs of a sitemap), found
// at depth on the page referrer ("" for a sitemap), through the filter,
// the depth limit and the frontier, in one call to the frontier.
func (c *Crawler) admitLinks(ctx context.Context, links []*url.URL, depth int, referrer string) error {
	items := make([]queue.Item, 0, len(links))
	for _, link := range links {
		if it, ok := c.candidate(filter.Normalize(link), depth); ok {
			it.Referrer = referrer
			items = append(items, it)
		}
	}
	_, err := c.enqueue(ctx, items, true)
	return err
}

// candidate applies the filter and the depth limit to a discovered URL,
// counting a rejection, and returns the item to queue if it passes.
func (c *Crawler) candidate(u *url.URL, depth int) (queue.Item, bool) {
	if reason := c.rules.Load().Check(u); reason != filter.ReasonOK {
		c.counts.filtered[reason].Add(1)
		c.metrics.reject(reason.String())
		if ce := c.log.Check(zap.DebugLevel, "url rejected"); ce != nil {
			ce.Write(zap.String("url", u.String()), zap.Stringer("reason", reason))
		}
		return queue.Item{}, false
	}
	if c.cfg.MaxDepth > 0 && depth > c.cfg.MaxDepth {
		c.counts.tooDeep.Add(1)
		c.metrics.reject("too_deep")
		return queue.Item{}, false
	}
	return queue.Item{URL: u.String(), Host: u.Host, Depth: depth, Kind: queue.KindPage}, true
}

// enqueue admits items to the frontier, which refuses those whose URL was
// seen before and, if they are new pages, those beyond max_pages or
// max_pages_per_host. It says what became of each, OverLimit standing for
// either cap.
func (c *Crawler) enqueue(ctx context.Context, items []queue.Item, newPages bool) ([]queue.Admission, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var lim queue.Limits
	if newPages {
		lim = queue.Limits{Pages: c.cfg.MaxPages, PagesPerHost: c.cfg.MaxPagesPerHost}
	}
	admissions, err := c.front.Admit(ctx, items, lim)
	if err != nil {
		return nil, fmt.Errorf("frontier add: %w", err)
	}
	for i, a := range admissions {
		admissions[i] = c.counted(a)
	}
	return admissions, nil
}

// counted counts a rejected admission, and returns it with OverHostLimit
// as OverLimit.
func (c *Crawler) counted(admission queue.Admission) queue.Admission {
	switch admission {
	case queue.Duplicate:
		c.counts.duplicate.Add(1)
		c.metrics.reject("duplicate")
	case queue.OverLimit:
		c.counts.overLimit.Add(1)
		c.metrics.reject("max_pages")
	case queue.OverHostLimit:
		c.counts.overLimit.Add(1)
		c.metrics.reject("max_pages_per_host")
		return queue.OverLimit
	}
	return admission
}
