package crawler

import (
	"context"
	"errors"
	"net/url"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// obeyRobots applies the robots.txt of u's authority to it, and reports
// whether it has dealt with the item itself: fetched robots.txt with the
// item's politeness slot and put the item back for a slot of its own, put it
// back until robots.txt can be read, or recorded it as disallowed. Rules
// another node of a shared crawl fetched cost no request, so the item keeps
// its slot, unless they slow the host down (a Crawl-delay).
func (c *Crawler) obeyRobots(ctx context.Context, it queue.Item, u *url.URL) (bool, error) {
	authority := u.Scheme + "://" + u.Host
	verdict, until, err := c.robots.verdict(ctx, authority, u.RequestURI())
	switch {
	case err != nil:
		return true, errStopped
	case verdict == robotsAllowed:
		c.keepCrawlDelay(ctx, it.Host, authority)
		return false, nil
	case verdict == robotsDisallowed:
		if it.Kind == queue.KindPage {
			c.counts.robotsDenied.Add(1)
			c.metrics.robotsDenial()
		}
		return true, c.finish(it, c.newRecord(it), withKind(kindRobots, errRobotsDisallowed))
	case verdict == robotsUnavailable:
		c.front.Block(ctx, it.Host, until)
		return true, c.requeue(ctx, it)
	}

	res := c.robots.fetch(ctx, authority)
	if ctx.Err() != nil {
		return true, errStopped
	}
	if err := c.archiveExchanges(ctx, res.exchanges); err != nil {
		return true, err
	}
	if res.shareErr != nil {
		c.log.Warn("shared robots.txt rules unreadable: fetched here", zap.String("authority", authority), zap.Error(res.shareErr))
	}
	if res.err != nil {
		if res.shared {
			c.front.Block(ctx, it.Host, res.retryAt)
			return true, c.requeue(ctx, it)
		}
		if failures, setAside := c.hostFailed(ctx, it.Host, res.err); !setAside {
			c.log.Warn("robots.txt unavailable: host paused", zap.String("authority", authority),
				zap.Error(res.err), zap.Int("failures", failures), zap.Time("until", res.retryAt))
			c.front.Block(ctx, it.Host, res.retryAt)
		}
		c.publishRobots(ctx, authority, res)
		return true, c.requeue(ctx, it)
	}
	delay := res.rules.CrawlDelay()
	if delay > c.cfg.MaxCrawlDelay {
		c.log.Warn("crawl-delay capped", zap.String("authority", authority),
			zap.Duration("crawl_delay", delay), zap.Duration("max_crawl_delay", c.cfg.MaxCrawlDelay))
		delay = c.cfg.MaxCrawlDelay
	}
	interval, changed, _ := c.hosts.update(it.Host, func(st *hostState) {
		st.crawlDelay = delay
		st.failures, st.lastError = 0, ""
	})
	if changed {
		c.front.SetInterval(ctx, it.Host, interval)
	}
	if res.shared {
		if changed {
			return true, c.requeue(ctx, it) // the slot was granted at the faster pace
		}
		return c.obeyRobots(ctx, it, u)
	}
	c.hostSucceeded(it.Host)
	// Published after SetInterval, so that no node takes the rules, and a
	// slot at the faster pace, before the host's interval is in force.
	c.publishRobots(ctx, authority, res)
	if res.first && c.cfg.Sitemaps {
		if err := c.queueSitemaps(ctx, authority, res.rules.Sitemaps()); err != nil {
			return true, err
		}
	}
	return true, c.requeue(ctx, it)
}

// publishRobots shares the robots.txt outcome res reports with the other
// nodes of a shared crawl. Failing only costs them a robots.txt request
// each, so it is logged, not returned.
func (c *Crawler) publishRobots(ctx context.Context, authority string, res robotsResult) {
	if err := c.robots.publish(ctx, authority, res); err != nil && ctx.Err() == nil {
		c.log.Warn("robots.txt rules not shared", zap.String("authority", authority), zap.Error(err))
	}
}

// errRobotsDisallowed is the record error of a URL robots.txt refuses.
var errRobotsDisallowed = errors.New("robots: disallowed")
