package crawler

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/robots"
	"github.com/crawld/crawld/warc"
)

// maxRobotsRedirects is how many redirects a robots.txt fetch follows
// (RFC 9309 2.3.1.2: at least five).
const maxRobotsRedirects = 5

// robotsGiveUp is how long robots.txt may stay unreachable before the
// authority is treated as having none (RFC 9309 2.3.1.4 allows it after 30
// days).
const robotsGiveUp = 30 * 24 * time.Hour

// robotsCache holds the robots.txt rules of the authorities (scheme://host)
// of the crawl. There is no separate robots.txt queue: the first worker that
// needs an authority's rules (or finds them expired) fetches them with the
// politeness slot of the item it holds, and puts that item back, so the
// robots.txt request is paced like any other request to the host.
//
// The rules take bounded memory (max_robots_memory): past it, those used
// least recently are dropped, and fetched again when their authority is
// next crawled; expired rules are dropped as they come to the end of that
// order. A host being crawled uses its rules for every URL, so it keeps
// them for their TTL unless more hosts are crawled at once than the bound
// holds rules for. Rules stored less than robotsKeepFresh ago are kept
// whatever the bound: the item whose slot fetched them has been put back,
// and must find them when it comes round again, or, with more hosts in
// flight than the bound holds, no page would ever be fetched.
type robotsCache struct {
	token   string // the product token matched against User-agent lines
	agent   string // the User-Agent header
	client  *http.Client
	ttl     time.Duration
	timeout time.Duration // bounds a whole robots.txt fetch
	backoff func(failures int, retryAfter time.Duration) time.Duration
	share   RobotsStore // nil unless the frontier is shared with other crawlers
	capture bool        // keep each exchange for the archive (robotsResult.exchanges)

	limit     int64         // max_robots_memory; 0 means no bound
	keepFresh time.Duration // robotsKeepFresh; shorter in tests
	mu        sync.Mutex    // guards the fields below and the entries' fields
	entries   map[string]*robotsEntry
	used      list.List // the entries, most recently used first
	bytes     int64     // the sizes of the entries
}

type robotsEntry struct {
	authority    string
	elem         *list.Element // in robotsCache.used
	size         int64         // about the memory the entry takes
	storedAt     time.Time     // when the last fetch ended
	rules        *robots.Rules // nil until the first fetch ends
	expires      time.Time     // when the rules must be fetched again
	unavailable  bool          // the last fetch failed: nothing may be fetched before expires
	failingSince time.Time     // start of the current run of failed fetches
	failures     int           // failed fetches in that run
	fetching     chan struct{} // non-nil while a worker fetches; closed when it is done
}

// robotsVerdict is what the rules say about one URL.
type robotsVerdict int

const (
	robotsAllowed     robotsVerdict = iota
	robotsDisallowed                // the rules forbid the URL
	robotsFetchNow                  // the caller must fetch robots.txt (fetch) before anything else
	robotsUnavailable               // robots.txt is unreachable: wait until the returned time
)

// newRobotsCache returns a cache fetching with the pages' client, which
// follows no redirect: download does, so that each is archived.
func newRobotsCache(cfg Config, pages *http.Client, backoff func(int, time.Duration) time.Duration, share RobotsStore) *robotsCache {
	return &robotsCache{
		token:     cfg.productToken(),
		agent:     cfg.UserAgent,
		client:    pages,
		ttl:       cfg.RobotsTTL,
		timeout:   min(cfg.HeaderTimeout, cfg.FetchTimeout),
		backoff:   backoff,
		share:     share,
		limit:     cfg.MaxRobotsMemory,
		keepFresh: robotsKeepFresh,
		entries:   make(map[string]*robotsEntry),
	}
}

// robotsKeepFresh is how long rules just stored are kept whatever
// max_robots_memory: long enough for the item put back after the fetch to
// come round again.
const robotsKeepFresh = time.Minute

// robotsEntryBytes is about what an entry takes besides its authority and
// rules: the entry, its list element and its slot in the map.
const robotsEntryBytes = 250

// entry returns authority's entry, created if need be, as the most recently
// used; c.mu is held.
func (c *robotsCache) entry(authority string) *robotsEntry {
	if e := c.entries[authority]; e != nil {
		c.used.MoveToFront(e.elem)
		return e
	}
	e := &robotsEntry{authority: authority}
	e.elem = c.used.PushFront(e)
	c.entries[authority] = e
	c.resize(e)
	return e
}

// resize accounts for a change of e's rules; c.mu is held.
func (c *robotsCache) resize(e *robotsEntry) {
	size := int64(robotsEntryBytes + len(e.authority) + e.rules.Size())
	c.bytes += size - e.size
	e.size = size
}

// trim drops the least recently used entries while the entries take more
// than the limit, and the expired rules it meets at that end of the order
// (they would be fetched again anyway; rules unavailable carry a run of
// failures, and stay unless memory is short). It stops at an entry being
// fetched or stored less than keepFresh ago. c.mu is held.
func (c *robotsCache) trim(now time.Time) {
	for el := c.used.Back(); el != nil; el = c.used.Back() {
		e := el.Value.(*robotsEntry)
		over := c.limit > 0 && c.bytes > c.limit
		if !over && (e.rules == nil || e.unavailable || now.Before(e.expires)) {
			return
		}
		if e.fetching != nil || now.Sub(e.storedAt) < c.keepFresh {
			return
		}
		c.used.Remove(el)
		delete(c.entries, e.authority)
		c.bytes -= e.size
	}
}

// verdict returns what authority's rules say about target (a request-target
// such as "/a?b"). It waits while another worker is fetching the rules. With
// robotsFetchNow the caller has claimed the fetch and must call fetch; with
// robotsUnavailable the time is when to try again.
func (c *robotsCache) verdict(ctx context.Context, authority, target string) (robotsVerdict, time.Time, error) {
	for {
		c.mu.Lock()
		e := c.entry(authority)
		if e.fetching != nil {
			wait := e.fetching
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return robotsAllowed, time.Time{}, ctx.Err()
			}
		}
		now := time.Now()
		switch {
		case e.rules == nil || !now.Before(e.expires):
			e.fetching = make(chan struct{})
			c.mu.Unlock()
			return robotsFetchNow, time.Time{}, nil
		case e.unavailable:
			until := e.expires
			c.mu.Unlock()
			return robotsUnavailable, until, nil
		}
		allowed := e.rules.Allowed(target)
		c.mu.Unlock()
		if !allowed {
			return robotsDisallowed, time.Time{}, nil
		}
		return robotsAllowed, time.Time{}, nil
	}
}

// crawlDelay returns the Crawl-delay of authority's rules, 0 if none are
// held.
func (c *robotsCache) crawlDelay(authority string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[authority]; e != nil {
		return e.rules.CrawlDelay()
	}
	return 0
}

// robotsResult is the outcome of one robots.txt fetch.
type robotsResult struct {
	rules   *robots.Rules
	first   bool      // the authority's rules were fetched for the first time
	shared  bool      // the outcome is another node's, read from the shared frontier: nothing was requested
	err     error     // why robots.txt is unavailable; nil when rules apply
	retryAt time.Time // with err: when to fetch robots.txt again
	// shareErr is why the shared outcome could not be read; the authority's
	// robots.txt was then requested.
	shareErr error
	// exchanges are the HTTP exchanges of the fetch, each redirect's too,
	// when the cache captures them.
	exchanges []warc.Exchange
	// toShare is the outcome as the other nodes of a shared crawl read it,
	// and how long it holds, for publish; nil if it was not fetched here
	// or nothing is shared.
	toShare    []byte
	toShareTTL time.Duration
}

// fetch retrieves authority's robots.txt, after verdict returned
// robotsFetchNow, and stores the outcome (RFC 9309 2.3.1): 2xx rules are
// kept for the TTL; 4xx, or redirects beyond five, mean no restrictions; 5xx,
// 429 or an unreachable server make the authority unavailable until a
// back-off has passed, and after 30 days of that it is treated as having no
// robots.txt. With a shared frontier, an outcome another node stored that
// still holds is taken instead (res.shared), and nothing is requested.
func (c *robotsCache) fetch(ctx context.Context, authority string) robotsResult {
	var shareErr error
	if c.share != nil {
		data, ttl, err := c.share.LoadRobots(ctx, authority)
		if err == nil && data != nil {
			if res, ok := c.adopt(authority, data, ttl); ok {
				return res
			}
		}
		shareErr = err
	}
	var exchanges []warc.Exchange
	body, rules, retryAfter, err := c.download(ctx, authority+"/robots.txt", &exchanges)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[authority]
	defer c.fetched(e, now)
	if ctx.Err() != nil {
		return robotsResult{err: ctx.Err()} // nothing learnt; the next worker fetches again
	}
	res := robotsResult{first: e.rules == nil, shareErr: shareErr, exchanges: exchanges}
	switch {
	case err == nil:
		e.rules, e.unavailable, e.expires = rules, false, now.Add(c.ttl)
		e.failures, e.failingSince = 0, time.Time{}
	case e.failures > 0 && now.Sub(e.failingSince) >= robotsGiveUp:
		e.rules, e.unavailable, e.expires = robots.AllowAll(), false, now.Add(c.ttl)
		e.failures, e.failingSince = 0, time.Time{}
		body = nil
	default:
		if e.failures == 0 {
			e.failingSince = now
		}
		e.failures++
		e.rules, e.unavailable = robots.DisallowAll(), true
		e.expires = now.Add(min(c.backoff(e.failures, retryAfter), c.ttl))
		res.err, res.retryAt = err, e.expires
	}
	res.rules = e.rules
	if c.share != nil {
		res.toShare, res.toShareTTL = sharedRobotsOf(e, body).encode(), e.expires.Sub(now)
	}
	return res
}

// fetched ends the fetch of e's rules, waking the workers waiting for them,
// and makes room for the rules stored. c.mu must be held.
func (c *robotsCache) fetched(e *robotsEntry, now time.Time) {
	close(e.fetching)
	e.fetching = nil
	e.storedAt = now
	c.used.MoveToFront(e.elem)
	c.resize(e)
	c.trim(now)
}

// adopt takes data, another node's outcome for authority holding for ttl
// more, as this node's, unless it cannot be decoded.
func (c *robotsCache) adopt(authority string, data []byte, ttl time.Duration) (robotsResult, bool) {
	sr, ok := decodeSharedRobots(data)
	if !ok || ttl <= 0 {
		return robotsResult{}, false
	}
	rules := robots.DisallowAll()
	switch sr.outcome {
	case sharedRules:
		rules = robots.Parse(sr.body, c.token)
	case sharedAllowAll:
		rules = robots.AllowAll()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[authority]
	now := time.Now()
	defer c.fetched(e, now)
	res := robotsResult{first: e.rules == nil, shared: true}
	e.rules, e.unavailable = rules, sr.outcome == sharedUnavailable
	e.expires = now.Add(min(ttl, c.ttl))
	e.failures, e.failingSince = sr.failures, sr.failingSince
	if e.unavailable {
		res.err, res.retryAt = fmt.Errorf("%w (as another node found)", errRobotsUnavailable), e.expires
	}
	res.rules = e.rules
	return res, true
}

// publish stores the outcome of the fetch res reports in the shared
// frontier, for the other nodes, for as long as it holds here. It does
// nothing without a shared frontier, or for an outcome taken from it.
func (c *robotsCache) publish(ctx context.Context, authority string, res robotsResult) error {
	if res.toShare == nil || res.toShareTTL <= 0 {
		return nil
	}
	return c.share.SaveRobots(ctx, authority, res.toShare, res.toShareTTL)
}

// sharedOutcome is the kind of outcome a robots.txt fetch shares.
type sharedOutcome byte

const (
	sharedRules       sharedOutcome = 'r' // the body's rules apply
	sharedAllowAll    sharedOutcome = 'a' // no restrictions (4xx, too many redirects, given up)
	sharedUnavailable sharedOutcome = 'u' // robots.txt could not be read: fetch nothing
)

// sharedRobots is a robots.txt outcome as nodes share it: the raw body
// rather than parsed rules, since each node matches its own product token
// (the same for every node of a crawl, as its config digest ensures) and
// the body is the compact form.
type sharedRobots struct {
	outcome      sharedOutcome
	failures     int       // with sharedUnavailable: failed fetches in a row
	failingSince time.Time // with sharedUnavailable: the first of them
	body         []byte    // with sharedRules
}

// sharedRobotsOf is e's outcome as nodes share it; body is the robots.txt
// its rules came from, nil when there are no restrictions.
func sharedRobotsOf(e *robotsEntry, body []byte) sharedRobots {
	switch {
	case e.unavailable:
		return sharedRobots{outcome: sharedUnavailable, failures: e.failures, failingSince: e.failingSince}
	case body == nil:
		return sharedRobots{outcome: sharedAllowAll}
	}
	return sharedRobots{outcome: sharedRules, body: body}
}

// encode writes "<outcome> <failures> <failing since, Unix ms>\n<body>".
func (sr sharedRobots) encode() []byte {
	var since int64
	if !sr.failingSince.IsZero() {
		since = sr.failingSince.UnixMilli()
	}
	b := fmt.Appendf(nil, "%c %d %d\n", sr.outcome, sr.failures, since)
	return append(b, sr.body...)
}

func decodeSharedRobots(data []byte) (sharedRobots, bool) {
	head, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return sharedRobots{}, false
	}
	fields := bytes.Fields(head)
	if len(fields) != 3 || len(fields[0]) != 1 {
		return sharedRobots{}, false
	}
	sr := sharedRobots{outcome: sharedOutcome(fields[0][0]), body: body}
	failures, err1 := strconv.Atoi(string(fields[1]))
	since, err2 := strconv.ParseInt(string(fields[2]), 10, 64)
	if err1 != nil || err2 != nil || failures < 0 {
		return sharedRobots{}, false
	}
	switch sr.outcome {
	case sharedRules, sharedAllowAll, sharedUnavailable:
	default:
		return sharedRobots{}, false
	}
	sr.failures = failures
	if since != 0 {
		sr.failingSince = time.UnixMilli(since)
	}
	return sr, true
}

// errRobotsUnavailable wraps the reason robots.txt could not be read.
var errRobotsUnavailable = errors.New("robots.txt unavailable")

// download fetches and parses one robots.txt, reading at most robots.MaxSize
// bytes, and returns the body read (nil when there are no restrictions) and
// its rules. It follows up to maxRobotsRedirects redirects (RFC 9309
// 2.3.1.2); a longer chain means no restrictions. An error means the server
// could not be reached or answered 5xx or 429; wait is its Retry-After, if
// any. With capture, the exchange of each response received is appended to
// kept.
func (c *robotsCache) download(ctx context.Context, robotsURL string, kept *[]warc.Exchange) (body []byte, rules *robots.Rules, wait time.Duration, err error) {
	// robots.txt is small (robots.MaxSize) and the host waits for it, so
	// the whole exchange, body included, gets the headers' time: a server
	// dripping it holds the host no longer than one that never answers.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := robotsURL
	for redirects := 0; ; redirects++ {
		resp, err := c.get(ctx, target, kept)
		var blocked *netguard.BlockedError
		if errors.As(err, &blocked) {
			// No request can reach this address: treat robots.txt as
			// absent so the pages are refused at once, each with a
			// "blocked address" record, instead of waiting out back-offs
			// for a server that will never be contacted.
			return nil, robots.AllowAll(), 0, nil
		}
		if err != nil {
			return nil, nil, 0, fetchError(err)
		}
		if loc := resp.header.Get("Location"); loc != "" && isRedirect(resp.status) && redirects < maxRobotsRedirects {
			next, err := url.Parse(target)
			if err == nil {
				next, err = next.Parse(loc)
			}
			if err != nil {
				return nil, nil, 0, fmt.Errorf("%w: redirect to %q: %w", errRobotsUnavailable, clipURL(loc, maxEchoedURL), err)
			}
			target = next.String()
			continue
		}
		switch status := resp.status; {
		case status >= 200 && status < 300:
			return resp.body, robots.Parse(resp.body, c.token), 0, nil
		case status == http.StatusTooManyRequests || status >= 500:
			// A server asking us to slow down is not one that has no rules.
			wait, _ := retryAfter(resp.header, time.Now())
			return nil, nil, wait, fmt.Errorf("%w: %s", errRobotsUnavailable, resp.statusText)
		default:
			return nil, robots.AllowAll(), 0, nil
		}
	}
}

// get makes one robots.txt request. It reads a 2xx body, up to
// robots.MaxSize (a read error fails the request); with capture, it reads
// any other body too (a read error only leaves it unarchived), and appends
// the exchange to kept.
func (c *robotsCache) get(ctx context.Context, target string, kept *[]warc.Exchange) (*response, error) {
	reqCtx, captured := traced(ctx, c.capture)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode, statusText: resp.Status, header: resp.Header, proto: resp.Proto, decoded: resp.Uncompressed}
	success := r.status >= 200 && r.status < 300
	if !success && captured == nil {
		return r, nil
	}
	r.body, err = io.ReadAll(io.LimitReader(resp.Body, robots.MaxSize+1))
	if len(r.body) > robots.MaxSize {
		r.body, r.truncated = r.body[:robots.MaxSize], warc.TruncatedLength
	}
	switch {
	case err != nil && success:
		return nil, err
	case err == nil && captured != nil:
		captured.attach(req, r)
		*kept = append(*kept, r.exchange())
	}
	return r, nil
}
