// Package crawler runs a polite crawl: a pool of workers takes URLs from a
// frontier that paces every host, fetches them, writes one Record per
// admitted URL to a Sink and feeds the links it finds back through the URL
// filter, the seen set and the page limit.
//
// The crawler owns no politeness clock of its own: the Frontier decides when
// a host may be fetched, so a worker never waits on one host while another is
// ready. Redirects are not followed inline either: each hop is re-filtered,
// deduplicated and queued like a new URL, so it is paced too.
package crawler

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/queue"
)

// Crawler runs one crawl. Create it with New; Run may be called once.
type Crawler struct {
	cfg     Config
	rules   atomic.Pointer[filter.Rules] // swapped by SetAllowedDomains
	front   Frontier
	caps    capabilities // front's optional interfaces, resolved by New
	sink    Sink
	log     *zap.Logger
	client  *http.Client
	fetcher *fetcher
	robots  *robotsCache // nil when robots.txt is not obeyed
	hosts   hostStates

	sitemaps sitemapBudget // max_sitemaps_per_host

	metrics  *metrics // nil without WithRegistry
	started  atomic.Bool
	stopping atomic.Bool
	busiest  hostCounter

	counts counters
}

// Option adds an optional dependency to New.
type Option func(*Crawler) error

// WithRegistry registers the crawler's Prometheus metrics on reg.
func WithRegistry(reg prometheus.Registerer) Option {
	return func(c *Crawler) error {
		m, err := newMetrics(reg, c.front)
		c.metrics = m
		return err
	}
}

// WithRootCAs makes the crawler trust the certificate authorities in pool,
// instead of the system's, for crawling sites whose certificates chain to a
// private CA (an intranet, a test server).
func WithRootCAs(pool *x509.CertPool) Option {
	return func(c *Crawler) error {
		t, ok := c.client.Transport.(*http.Transport)
		if !ok {
			return errors.New("crawler: WithRootCAs: the HTTP transport is not an *http.Transport")
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		return nil
	}
}

// New returns a crawler for cfg that takes work from front and writes records
// to sink. A nil logger discards logs.
func New(cfg Config, front Frontier, sink Sink, log *zap.Logger, opts ...Option) (*Crawler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rules, err := cfg.rules()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	guard, err := netguard.New(cfg.AllowPrivateNetworks, cfg.AllowCIDRs)
	if err != nil {
		return nil, err
	}
	c := &Crawler{
		cfg:    cfg,
		front:  front,
		caps:   capabilitiesOf(front),
		sink:   sink,
		log:    log,
		client: newClient(cfg, guard),
		hosts:  hostStates{hosts: make(map[string]*hostEntry)},
	}
	if c.caps.holder != nil {
		c.hosts.held = c.caps.holder.Holds
	}
	c.hosts.idleAfter = hostIdleAfter(cfg, c.hosts.held != nil)
	c.fetcher = &fetcher{client: c.client, userAgent: cfg.UserAgent, maxBody: cfg.MaxBody, idle: cfg.ReadIdleTimeout,
		budget: &bodyBudget{limit: cfg.MaxBodyMemory}}
	c.counts.filtered = make([]atomic.Int64, len(filter.Reasons()))
	c.rules.Store(rules)
	c.busiest.reset()
	if cfg.Robots {
		var share RobotsStore // a nil SharedFrontier would be a non-nil RobotsStore
		if c.caps.shared != nil {
			share = c.caps.shared
		}
		c.robots = newRobotsCache(cfg, c.client, c.backoff, share)
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run crawls from the seeds until the frontier has joined (every admitted
// URL has a record) or ctx ends. Workers are stopped by cancelling their
// context and are all gone when Run returns. It returns ctx.Err() when
// interrupted, an error when records could not be written, else nil.
func (c *Crawler) Run(ctx context.Context) (Summary, error) {
	return c.run(ctx, ctx, true)
}

// Serve runs the crawl as a service: after the frontier drains the workers
// wait for more (seeds added with AddSeeds, a recrawl) until stop ends. Then
// they take no new work, and what is in flight may finish until abort ends,
// when it is cancelled. Serve returns once every worker is gone; its error
// is nil after a stop, or why records could not be written.
func (c *Crawler) Serve(stop, abort context.Context) (Summary, error) {
	sum, err := c.run(stop, abort, false)
	if errors.Is(err, context.Canceled) && stop.Err() != nil {
		err = nil
	}
	return sum, err
}

// run is Run and Serve: workers Get with stop and fetch with abort; with
// untilJoined the crawl also ends when the frontier joins.
func (c *Crawler) run(stop, abort context.Context, untilJoined bool) (Summary, error) {
	start := time.Now()
	c.started.Store(true)
	defer c.client.CloseIdleConnections()
	c.log.Info("frontier", zap.Bool("shared", c.caps.shared != nil), zap.Bool("durable", c.caps.durable != nil),
		zap.Bool("validators", c.caps.validators != nil), zap.Bool("holds_hosts", c.caps.holder != nil))
	if c.caps.durable != nil {
		c.loadCounters(c.caps.durable)
	}
	if err := c.admitSeeds(abort); err != nil {
		return c.summary(start), err
	}

	g, fetchCtx := errgroup.WithContext(abort)
	getCtx, stopGets := context.WithCancel(stop)
	defer stopGets()
	// A worker's failure stops the others taking work too.
	defer context.AfterFunc(fetchCtx, stopGets)()
	for range c.cfg.Workers {
		g.Go(func() error { return c.work(getCtx, fetchCtx) })
	}
	if untilJoined {
		g.Go(func() error {
			// Joining means every admitted URL is recorded: nothing can
			// add work any more, so the workers can go.
			if err := c.front.Join(getCtx); err == nil {
				stopGets()
			}
			return nil
		})
	}
	if cs := c.caps.durable; cs != nil {
		saved := make(chan struct{})
		saveCtx, stopSaving := context.WithCancel(getCtx)
		defer func() { stopSaving(); <-saved; c.saveCounters(cs) }()
		go func() { defer close(saved); c.persistCounters(saveCtx, cs) }()
	}
	progressDone := make(chan struct{})
	if c.cfg.ProgressInterval > 0 {
		progressCtx, stopProgress := context.WithCancel(getCtx)
		defer func() { stopProgress(); <-progressDone }()
		go func() { defer close(progressDone); c.reportProgress(progressCtx, start) }()
	} else {
		close(progressDone)
	}
	err := g.Wait()
	if err == nil {
		err = abort.Err()
	}
	sum := c.summary(start)
	c.logSummary(sum, stop.Err() != nil)
	return sum, err
}

// work is one worker: it takes items until getCtx ends and handles each
// with ctx, so that a stopping service can let fetches in flight finish.
// Only a failure to write records ends it early, since that would lose
// output.
func (c *Crawler) work(getCtx, ctx context.Context) error {
	for {
		it, err := c.front.Get(getCtx)
		if err != nil {
			if getCtx.Err() != nil {
				return nil
			}
			return fmt.Errorf("frontier get: %w", err)
		}
		if err := c.handle(ctx, it); err != nil {
			if ctx.Err() != nil {
				return nil // a Put refused because the crawl is stopping
			}
			return err
		}
	}
}

// handle processes one item and settles it with the frontier exactly once,
// whatever happens, so Join can neither hang nor return early: Done once
// its outcome is recorded (its record written — a page that failed is
// still a record —, or a retry or the next redirect hop queued), else
// Release, so that nothing is marked done that was not recorded. An item
// is released when the crawl stopped before it had an outcome (errStopped;
// handle then returns nil), or when recording its outcome failed (the
// sink, admitting its links, queueing a retry): the error is returned and
// ends the crawl, and a durable frontier fetches the item again on the
// next run. A panic becomes an error record.
func (c *Crawler) handle(ctx context.Context, it queue.Item) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("worker panic", zap.String("url", it.URL), zap.Any("panic", p), zap.Stack("stack"))
			err = c.finish(it, c.newRecord(it), withKind(kindInternal, fmt.Errorf("internal error: %v", p)))
		}
		switch {
		case errors.Is(err, errStopped):
			c.front.Release(it)
			err = nil
		case err != nil:
			c.front.Release(it)
		default:
			c.front.Done(it)
		}
	}()
	u, err := url.Parse(it.URL)
	if err != nil {
		return c.finish(it, c.newRecord(it), withKind(kindInvalidURL, err))
	}
	if st := c.hosts.get(it.Host); st.setAside {
		return c.finish(it, c.newRecord(it), withKind(kindHostSetAside, fmt.Errorf("host set aside after %d failed requests in a row (last: %s)", c.cfg.MaxHostFailures, st.lastError)))
	}
	if c.robots != nil {
		handled, err := c.obeyRobots(ctx, it, u)
		if handled || err != nil {
			return err
		}
	}
	return c.fetchItem(ctx, it, u)
}

func (c *Crawler) newRecord(it queue.Item) Record {
	rec := Record{URL: it.URL, FinalURL: it.URL, Depth: it.Depth, FetchedAt: time.Now().UTC()}
	if it.Origin != "" {
		rec.URL = it.Origin
	}
	return rec
}

// errStopped reports that the crawl stopped before an item had an outcome;
// handle then releases the item, so a durable frontier keeps it for the
// next run.
var errStopped = errors.New("stopped before the item was done")

// requeue puts a copy of an item in the frontier, behind its host's other
// items: a retry, or a wait for robots.txt. It is called before the item is
// settled, so the crawl cannot join meanwhile, and it is not cancelled with
// the crawl: an item must never be dropped. If it fails, handle releases
// the item instead of finishing it.
func (c *Crawler) requeue(ctx context.Context, it queue.Item) error {
	if err := c.front.Put(context.WithoutCancel(ctx), it); err != nil {
		return fmt.Errorf("frontier put: %w", err)
	}
	return nil
}

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
	if err == nil {
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
		return c.failed(fetched, it, rec, nil, fetchError(err))
	case err != nil:
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
		return c.readSitemap(fetched, it, resp)
	}
	return c.crawlResponse(fetched, it, u, rec, resp)
}

// failed handles a transient failure: the host is left alone for a back-off
// (or the server's Retry-After), and the item is tried again unless it has
// used up max_retries or the host has failed too often and is set aside.
func (c *Crawler) failed(ctx context.Context, it queue.Item, rec Record, resp *response, cause error) error {
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

// hostFailed counts a failed request to host. It returns how many failed in
// a row (by every crawler sharing the frontier, if it counts them) and
// whether the host is now set aside, in which case its block is lifted so
// that its remaining items are recorded without waiting.
func (c *Crawler) hostFailed(ctx context.Context, host string, cause error) (failures int, setAside bool) {
	shared := 0
	if c.caps.shared != nil {
		n, err := c.caps.shared.HostFailed(ctx, host)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("host failure counted on this node only", zap.String("host", host), zap.Error(err))
		}
		shared = n
	}
	wasAside := false
	_, _, setAside = c.hosts.update(host, func(st *hostState) {
		wasAside = st.setAside
		st.failures++
		if shared > 0 {
			st.failures = shared
		}
		failures = st.failures
		st.setAside = st.setAside || st.failures >= c.cfg.MaxHostFailures
		st.lastError = cause.Error()
	})
	if setAside && !wasAside {
		c.log.Warn("host set aside", zap.String("host", host), zap.Int("failures", failures), zap.Error(cause))
		c.front.Unblock(ctx, host)
	}
	return failures, setAside
}

// hostSucceeded ends host's run of failed requests for the other crawlers
// sharing the frontier, if it counts them.
func (c *Crawler) hostSucceeded(host string) {
	if c.caps.shared != nil {
		c.caps.shared.HostSucceeded(host)
	}
}

// crawlResponse turns a page's response into its record, following a
// redirect or taking the page's links.
func (c *Crawler) crawlResponse(ctx context.Context, it queue.Item, page *url.URL, rec Record, resp *response) error {
	rec.Status = resp.status
	rec.ContentType = resp.header.Get("Content-Type")
	rec.Bytes = int64(len(resp.body))
	c.counts.bytes.Add(rec.Bytes)

	if loc := resp.header.Get("Location"); loc != "" && isRedirect(resp.status) {
		queued, err := c.redirect(ctx, it, page, loc, &rec)
		if queued || err != nil {
			return err // the record is written when the chain ends
		}
		return c.finish(it, rec, nil)
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
	token := c.cfg.productToken()
	rec.Noindex, rec.Nofollow = robotsTag(resp.header, token)
	if resp.status >= 200 && resp.status < 300 && htmlType(rec.ContentType, resp.body) {
		p, err := parsePage(page, rec.ContentType, resp.body, token, c.cfg.FollowNofollow, c.cfg.MaxLinksPerPage)
		if err != nil {
			c.log.Warn("links not extracted", zap.String("url", it.URL), zap.Error(err))
		}
		rec.Links = len(p.links)
		if p.truncated {
			c.log.Debug("links beyond max_links_per_page left out", zap.String("url", it.URL), zap.Int("max_links_per_page", c.cfg.MaxLinksPerPage))
		}
		rec.Noindex = rec.Noindex || p.noindex
		rec.Nofollow = rec.Nofollow || p.nofollow
		if !rec.Nofollow {
			if err := c.admitLinks(ctx, p.links, it.Depth+1); err != nil {
				return err
			}
		}
	}
	return c.finish(it, rec, nil)
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirect handles a redirect response. It queues the next hop and reports
// true, or fills rec with why the chain ends here: a loop, too long, refused
// by the filter (an error), or a target already crawled under its own
// record (the redirect's own record, final_url naming the target).
func (c *Crawler) redirect(ctx context.Context, it queue.Item, from *url.URL, location string, rec *Record) (bool, error) {
	echo := c.echoLimit()
	if c.cfg.MaxURLLength > 0 && len(location) > c.cfg.MaxURLLength {
		c.counts.filtered[filter.ReasonTooLong].Add(1)
		rec.Status, rec.ErrorKind, rec.Error = 0, kindFilter, fmt.Sprintf("redirect refused by filter (%s, location of %d bytes): %s",
			filter.ReasonTooLong, len(location), clipURL(location, echo))
		return false, nil
	}
	target, err := from.Parse(location)
	if err != nil {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, fmt.Sprintf("redirect: invalid location %q", clipURL(location, echo))
		return false, nil
	}
	target = filter.Normalize(target)
	rec.FinalURL = clipURL(target.String(), echo)
	chain := redirectChain(it)
	if slices.Contains(chain, target.String()) {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, clipURL("redirect loop: "+strings.Join(append(chain, target.String()), " -> "), echo)
		return false, nil
	}
	if it.Redirects >= c.cfg.MaxRedirects {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, fmt.Sprintf("too many redirects (> %d)", c.cfg.MaxRedirects)
		return false, nil
	}
	if reason := c.rules.Load().Check(target); reason != filter.ReasonOK {
		c.counts.filtered[reason].Add(1)
		rec.Status, rec.ErrorKind, rec.Error = 0, kindFilter, fmt.Sprintf("redirect refused by filter (%s): %s", reason, rec.FinalURL)
		return false, nil
	}
	next := queue.Item{
		URL:       target.String(),
		Host:      target.Host,
		Depth:     it.Depth,
		Kind:      queue.KindPage,
		Redirects: it.Redirects + 1,
		Origin:    rec.URL,
		Via:       strings.Join(chain[1:], " "),
	}
	// The hop inherits the admission of the URL that led to it, so it does
	// not count against max_pages again.
	admissions, err := c.enqueue(ctx, []queue.Item{next}, false)
	return err == nil && admissions[0] == queue.Added, err
}

// redirectChain returns the URLs of the redirect chain that led to it,
// oldest first: the URL admitted, the hops after it, and it.
func redirectChain(it queue.Item) []string {
	if it.Origin == "" {
		return []string{it.URL}
	}
	chain := []string{it.Origin}
	if it.Via != "" {
		chain = append(chain, strings.Split(it.Via, " ")...)
	}
	return append(chain, it.URL)
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
	if err := c.sink.Write(rec); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	// Durable before the item is Done (see Syncer).
	if s, ok := c.sink.(Syncer); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("output: %w", err)
		}
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

// fetchError marks a failed fetch with its kind (fetchKind), strips
// net/http's `Get "URL":` prefix (the record already names the URL), says
// "blocked address …" for a refused address, names timeouts and headers
// over max_header_bytes plainly, and truncates a URL a nested error quotes.
func fetchError(err error) error {
	var blocked *netguard.BlockedError
	if errors.As(err, &blocked) {
		return withKind(kindBlockedAddress, blocked)
	}
	kind := fetchKind(err)
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	if headersTooLarge(err) {
		return withKind(kindHeadersTooLarge, fmt.Errorf("%w (over max_header_bytes)", errHeadersTooLarge))
	}
	if nested, ok := err.(*url.Error); ok && len(nested.URL) > maxEchoedURL {
		// A parse error quotes its URL whole.
		err = &url.Error{Op: nested.Op, URL: clipURL(nested.URL, maxEchoedURL), Err: nested.Err}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return withKind(kind, fmt.Errorf("timeout: %w", err))
	}
	return withKind(kind, err)
}
