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
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	out     *output
	log     *zap.Logger
	client  *http.Client
	fetcher *fetcher
	robots  *robotsCache // nil when robots.txt is not obeyed
	archive Archive      // nil unless WithArchive
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
		out:    &output{sink: sink},
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
	c.out.flusher, _ = sink.(Flusher)
	c.out.archive = c.archive
	c.out.eager = c.caps.durable != nil || c.caps.shared != nil
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
		zap.Bool("validators", c.caps.validators != nil), zap.Bool("holds_hosts", c.caps.holder != nil),
		zap.Bool("captures", c.caps.captures != nil))
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
	// The last records of the crawl are flushed once every worker has
	// gone; the workers' getCtx ends before their fetches in flight do.
	g.Go(func() error { return c.out.flushEvery(getCtx) })
	err := g.Wait()
	if ferr := c.out.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
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
