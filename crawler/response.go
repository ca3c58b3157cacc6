package crawler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// fetchItem fetches a page or sitemap and deals with the response: a
// transient failure is retried after a back-off that pauses the whole host;
// anything else is the item's outcome.
func (c *Crawler) fetchItem(ctx context.Context, it queue.Item, u *url.URL) error {
	rec := c.newRecord(it)
	var conditional http.Header
	if vs := c.caps.validators; vs != nil && it.Kind == queue.KindPage {
		if etag, lastModified, _, ok := vs.Validators(it.URL); ok && (etag != "" || lastModified != "") {
			conditional = http.Header{}
			if etag != "" {
				conditional.Set("If-None-Match", etag)
			}
			if lastModified != "" {
				conditional.Set("If-Modified-Since", lastModified)
			}
		}
	}
	resp, err := c.fetcher.fetch(ctx, it.URL, conditional)
	if resp != nil {
		defer resp.release()
	}
	rec.DurationMS = time.Since(rec.FetchedAt).Milliseconds()
	// The response is in: whatever happens to the crawl now, its outcome
	// (record, links, retry) is completed rather than lost half-way.
	fetched := context.WithoutCancel(ctx)
	switch {
	case ctx.Err() != nil:
		return errStopped
	case errors.Is(err, errBodyBudget):
		return c.retryForMemory(fetched, it, rec, err)
	case err != nil && transientError(err):
		if resp != nil { // a body cut short: what was read is archived
			if err := c.archiveItem(fetched, &rec, it, resp, nil); err != nil {
				return err
			}
		}
		return c.failed(fetched, it, rec, nil, fetchError(err))
	case err != nil:
		if resp != nil { // a body cut short (at max_body, or by a failed read): what was read is archived
			if err := c.archiveItem(fetched, &rec, it, resp, nil); err != nil {
				return err
			}
		}
		return c.finish(it, rec, fetchError(err))
	case retryableStatus(resp.status):
		return c.failed(fetched, it, rec, resp, withKind(kindHTTPStatus, errors.New(resp.statusText)))
	}
	interval, changed, _ := c.hosts.update(it.Host, func(st *hostState) {
		st.failures, st.lastError = 0, ""
		if c.cfg.Autothrottle {
			current := st.throttle
			if current == 0 {
				current = c.cfg.AutothrottleStartDelay
			}
			st.throttle = throttleDelay(current, resp.latency, c.cfg.AutothrottleTargetConcurrency, resp.status, c.cfg.AutothrottleMaxDelay)
		}
	})
	if changed {
		c.front.SetInterval(ctx, it.Host, interval)
	}
	c.hostSucceeded(it.Host)
	if it.Kind == queue.KindSitemap {
		if err := c.archiveItem(ctx, &rec, it, resp, nil); err != nil {
			return err
		}
		return c.readSitemap(fetched, it, resp)
	}
	return c.crawlResponse(fetched, it, u, rec, resp)
}

// failed handles a transient failure: the host is left alone for a back-off
// (or the server's Retry-After), and the item is tried again unless it has
// used up max_retries or the host has failed too often and is set aside.
func (c *Crawler) failed(ctx context.Context, it queue.Item, rec Record, resp *response, cause error) error {
	if resp != nil {
		// Each attempt's answer is archived; the record, written when the
		// item ends, names the last.
		if err := c.archiveItem(ctx, &rec, it, resp, nil); err != nil {
			return err
		}
	}
	failures, setAside := c.hostFailed(ctx, it.Host, cause)
	if !setAside {
		var wait time.Duration
		if resp != nil {
			wait, _ = retryAfter(resp.header, time.Now())
		}
		c.front.Block(ctx, it.Host, time.Now().Add(c.backoff(failures, wait)))
	}
	// A timeout costs up to fetch_timeout, so only a URL's first try is
	// retried after one: a server that did not answer in time twice is not
	// waited for again, which bounds what a URL costs to two timeouts.
	if it.Attempt < c.cfg.MaxRetries && !setAside && (it.Attempt == 0 || !timeoutError(cause)) {
		c.counts.retries.Add(1)
		c.metrics.retry()
		it.Attempt++
		return c.requeue(ctx, it)
	}
	giveUp := cause
	if it.Attempt > 0 {
		giveUp = fmt.Errorf("giving up after %d retries: %w", it.Attempt, cause)
	}
	if resp == nil {
		return c.finish(it, rec, giveUp)
	}
	// The server did answer: keep its status next to the error.
	rec.Status, rec.ContentType, rec.Bytes = resp.status, resp.header.Get("Content-Type"), int64(len(resp.body))
	rec.Error, rec.ErrorKind = giveUp.Error(), errorKind(giveUp)
	return c.finish(it, rec, nil)
}

// crawlResponse turns a page's response into its record, following a
// redirect or taking the page's links. The exchange is archived once the
// links are parsed (its metadata record lists them), before anything is
// saved or queued because of it.
func (c *Crawler) crawlResponse(ctx context.Context, it queue.Item, page *url.URL, rec Record, resp *response) error {
	rec.Status = resp.status
	rec.ContentType = resp.header.Get("Content-Type")
	rec.Bytes = int64(len(resp.body))
	c.counts.bytes.Add(rec.Bytes)

	if loc := resp.header.Get("Location"); loc != "" && isRedirect(resp.status) {
		if err := c.archiveItem(ctx, &rec, it, resp, nil); err != nil {
			return err
		}
		queued, err := c.redirect(ctx, it, page, loc, &rec)
		if queued || err != nil {
			return err // the record is written when the chain ends
		}
		return c.finish(it, rec, nil)
	}
	token := c.cfg.productToken()
	rec.Noindex, rec.Nofollow = robotsTag(resp.header, token)
	var links []*url.URL
	parsed := resp.status >= 200 && resp.status < 300 && htmlType(rec.ContentType, resp.body)
	if parsed {
		p, err := parsePage(page, rec.ContentType, resp.body, token, c.cfg.FollowNofollow, c.cfg.MaxLinksPerPage)
		if err != nil {
			c.log.Warn("links not extracted", zap.String("url", it.URL), zap.Error(err))
		}
		links, rec.Links = p.links, len(p.links)
		if p.truncated {
			c.log.Debug("links beyond max_links_per_page left out", zap.String("url", it.URL), zap.Int("max_links_per_page", c.cfg.MaxLinksPerPage))
		}
		rec.Noindex = rec.Noindex || p.noindex
		rec.Nofollow = rec.Nofollow || p.nofollow
	}
	if err := c.archiveItem(ctx, &rec, it, resp, links); err != nil {
		return err
	}
	if vs := c.caps.validators; vs != nil && (resp.status == http.StatusOK || resp.status == http.StatusNotModified) {
		etag, lastModified := resp.header.Get("ETag"), resp.header.Get("Last-Modified")
		if resp.status == http.StatusNotModified {
			// A 304 may omit the validators; those sent before still hold.
			oldETag, oldLastModified, _, _ := vs.Validators(it.URL)
			etag, lastModified = cmp.Or(etag, oldETag), cmp.Or(lastModified, oldLastModified)
		}
		if err := vs.SaveValidators(it.URL, etag, lastModified, rec.FetchedAt); err != nil {
			c.log.Warn("validators not saved", zap.String("url", it.URL), zap.Error(err))
		}
	}
	if parsed && !rec.Nofollow {
		if err := c.admitLinks(ctx, links, it.Depth+1, rec.FinalURL); err != nil {
			return err
		}
	}
	return c.finish(it, rec, nil)
}

// finish ends an item with its outcome: a page's record is written; a
// sitemap has no record, so its failure is only logged, and neither has a
// page fetched again for its links at a smaller depth (KindExpand): its
// record was written when it was first fetched.
func (c *Crawler) finish(it queue.Item, rec Record, fetchErr error) error {
	switch it.Kind {
	case queue.KindSitemap:
		if fetchErr != nil && !errors.Is(fetchErr, errRobotsDisallowed) {
			c.log.Warn("sitemap not read", zap.String("url", it.URL), zap.Error(fetchErr))
		}
		return nil
	case queue.KindExpand:
		if ce := c.log.Check(zap.DebugLevel, "links taken again at a smaller depth"); ce != nil {
			ce.Write(zap.String("url", it.URL), zap.Int("depth", it.Depth), zap.Int("links", rec.Links), zap.NamedError("fetch_error", fetchErr))
		}
		return nil
	}
	return c.write(it, rec, fetchErr)
}

// write sends the record of item it to the sink, with fetchErr (if any) as
// its error and the kind fetchErr was marked with (withKind) as its
// error_kind, and makes it durable if the sink can (see Syncer). An error
// means the record may be lost: the item must not be Done.
func (c *Crawler) write(it queue.Item, rec Record, fetchErr error) error {
	if fetchErr != nil {
		rec.Status, rec.Error, rec.ErrorKind = 0, fetchErr.Error(), errorKind(fetchErr)
	}
	if ce := c.log.Check(zap.DebugLevel, "fetched"); ce != nil {
		ce.Write(zap.String("url", it.URL), zap.String("host", it.Host), zap.Int("status", rec.Status),
			zap.Int64("duration_ms", rec.DurationMS), zap.Int("depth", it.Depth), zap.String("error", rec.Error))
	}
	rec.Node = c.caps.node
	if err := c.out.write(rec); err != nil {
		return err
	}
	c.counts.pages.Add(1)
	if rec.Error != "" {
		c.counts.errors.Add(1)
	}
	c.metrics.observe(rec)
	if rec.Status != 0 {
		c.busiest.add(it.Host)
	}
	return nil
}
