package crawler

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/filter"
)

// Summary is what a crawl did, as logged at its end.
type Summary struct {
	Pages    int64         // records written
	Errors   int64         // records with an error
	Bytes    int64         // body bytes read
	Rejected int64         // discovered URLs not admitted: filtered, duplicate, too deep or over max_pages
	Elapsed  time.Duration // wall time of Run
}

// counters are the crawl's running totals, read by Status, the progress
// lines and the summary.
type counters struct {
	pages, errors, bytes atomic.Int64
	robotsDenied         atomic.Int64
	duplicate, tooDeep   atomic.Int64
	overLimit            atomic.Int64
	retries              atomic.Int64
	filtered             []atomic.Int64 // indexed by filter.Reason
}

// persistedCounters are the counters a DurableFrontier keeps, by name.
func (c *Crawler) persistedCounters() map[string]*atomic.Int64 {
	return map[string]*atomic.Int64{
		"pages":         &c.counts.pages,
		"errors":        &c.counts.errors,
		"bytes":         &c.counts.bytes,
		"robots_denied": &c.counts.robotsDenied,
		"retries":       &c.counts.retries,
	}
}

func (c *Crawler) loadCounters(cs DurableFrontier) {
	saved, err := cs.Counters()
	if err != nil {
		c.log.Warn("counters not restored", zap.Error(err))
		return
	}
	for name, counter := range c.persistedCounters() {
		counter.Store(saved[name])
	}
}

func (c *Crawler) saveCounters(cs DurableFrontier) {
	values := make(map[string]int64)
	for name, counter := range c.persistedCounters() {
		values[name] = counter.Load()
	}
	if err := cs.SaveCounters(values); err != nil {
		c.log.Warn("counters not saved", zap.Error(err))
	}
}

// persistCounters saves the counters every second until ctx ends, so a
// crash loses at most a second of counting (the pages themselves are safe).
func (c *Crawler) persistCounters(ctx context.Context, cs DurableFrontier) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			c.saveCounters(cs)
		}
	}
}

func (c *Crawler) summary(start time.Time) Summary {
	rejected := c.counts.duplicate.Load() + c.counts.tooDeep.Load() + c.counts.overLimit.Load()
	for i := range c.counts.filtered {
		rejected += c.counts.filtered[i].Load()
	}
	return Summary{
		Pages:    c.counts.pages.Load(),
		Errors:   c.counts.errors.Load(),
		Bytes:    c.counts.bytes.Load(),
		Rejected: rejected,
		Elapsed:  time.Since(start),
	}
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (c *Crawler) reportProgress(ctx context.Context, start time.Time) {
	ticker := time.NewTicker(c.cfg.ProgressInterval)
	defer ticker.Stop()
	lastPages, lastAt := int64(0), start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			pages := c.counts.pages.Load()
			fields := []zap.Field{
				zap.Int64("pages", pages),
				zap.Int64("errors", c.counts.errors.Load()),
				zap.Float64("pages_per_sec", perSecond(pages-lastPages, now.Sub(lastAt))),
			}
			st := c.front.Stats()
			fields = append(fields, zap.Int("frontier", st.Queued), zap.Int("spilled", st.Spilled), zap.Int("in_flight", st.InFlight),
				zap.Int("hosts", st.Hosts), zap.Int("hosts_waiting", st.HostsWaiting))
			c.log.Info("progress", fields...)
			lastPages, lastAt = pages, now
		}
	}
}

// logSummary logs what the crawl did, at its end.
func (c *Crawler) logSummary(sum Summary, interrupted bool) {
	fields := []zap.Field{
		zap.Int64("pages", sum.Pages),
		zap.Int64("errors", sum.Errors),
		zap.Int64("bytes", sum.Bytes),
		zap.Duration("elapsed", sum.Elapsed),
		zap.Float64("pages_per_sec", perSecond(sum.Pages, sum.Elapsed)),
		zap.Bool("interrupted", interrupted),
		zap.Int64("robots_denied", c.counts.robotsDenied.Load()),
		zap.Int64("retries", c.counts.retries.Load()),
		zap.Int64("duplicates", c.counts.duplicate.Load()),
		zap.Int64("too_deep", c.counts.tooDeep.Load()),
		zap.Int64("over_max_pages", c.counts.overLimit.Load()),
	}
	for _, reason := range filter.Reasons() {
		if n := c.counts.filtered[reason].Load(); n > 0 {
			fields = append(fields, zap.Int64("filtered_"+reason.String(), n))
		}
	}
	c.log.Info("crawl finished", fields...)
}
