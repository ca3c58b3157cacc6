package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/robots"
)

// maxRobotsRedirects is how many redirects a robots.txt fetch follows
// (RFC 9309 2.3.1.2: at least five).
const maxRobotsRedirects = 5

// robotsGiveUp is how long robots.txt may stay unreachable before the
// authority is treated as having none (RFC 9309 2.3.1.4 allows it after 30
// days).
const robotsGiveUp = 30 * 24 * time.Hour

// robotsCache holds the robots.txt rules of every authority (scheme://host)
// of the crawl. There is no separate robots.txt queue: the first worker that
// needs an authority's rules (or finds them expired) fetches them with the
// politeness slot of the item it holds, and puts that item back, so the
// robots.txt request is paced like any other request to the host.
type robotsCache struct {
	token   string // the product token matched against User-agent lines
	agent   string // the User-Agent header
	client  *http.Client
	ttl     time.Duration
	backoff func(failures int, retryAfter time.Duration) time.Duration

	mu      sync.Mutex // guards entries and the entries' fields
	entries map[string]*robotsEntry
}

type robotsEntry struct {
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

func newRobotsCache(cfg Config, pages *http.Client, backoff func(int, time.Duration) time.Duration) *robotsCache {
	client := *pages
	client.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if len(via) > maxRobotsRedirects {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &robotsCache{
		token:   cfg.productToken(),
		agent:   cfg.UserAgent,
		client:  &client,
		ttl:     cfg.RobotsTTL,
		backoff: backoff,
		entries: make(map[string]*robotsEntry),
	}
}

// verdict returns what authority's rules say about target (a request-target
// such as "/a?b"). It waits while another worker is fetching the rules. With
// robotsFetchNow the caller has claimed the fetch and must call fetch; with
// robotsUnavailable the time is when to try again.
func (c *robotsCache) verdict(ctx context.Context, authority, target string) (robotsVerdict, time.Time, error) {
	for {
		c.mu.Lock()
		e := c.entries[authority]
		if e == nil {
			e = &robotsEntry{}
			c.entries[authority] = e
		}
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

// robotsResult is the outcome of one robots.txt fetch.
type robotsResult struct {
	rules   *robots.Rules
	first   bool      // the authority's rules were fetched for the first time
	err     error     // why robots.txt is unavailable; nil when rules apply
	retryAt time.Time // with err: when to fetch robots.txt again
}

// fetch retrieves authority's robots.txt, after verdict returned
// robotsFetchNow, and stores the outcome (RFC 9309 2.3.1): 2xx rules are
// kept for the TTL; 4xx, or redirects beyond five, mean no restrictions; 5xx,
// 429 or an unreachable server make the authority unavailable until a
// back-off has passed, and after 30 days of that it is treated as having no
// robots.txt.
func (c *robotsCache) fetch(ctx context.Context, authority string) robotsResult {
	rules, retryAfter, err := c.download(ctx, authority+"/robots.txt")
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[authority]
	defer func() {
		close(e.fetching)
		e.fetching = nil
	}()
	if ctx.Err() != nil {
		return robotsResult{err: ctx.Err()} // nothing learnt; the next worker fetches again
	}
	res := robotsResult{first: e.rules == nil}
	switch {
	case err == nil:
		e.rules, e.unavailable, e.expires = rules, false, now.Add(c.ttl)
		e.failures, e.failingSince = 0, time.Time{}
	case e.failures > 0 && now.Sub(e.failingSince) >= robotsGiveUp:
		e.rules, e.unavailable, e.expires = robots.AllowAll(), false, now.Add(c.ttl)
		e.failures, e.failingSince = 0, time.Time{}
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
	return res
}

// errRobotsUnavailable wraps the reason robots.txt could not be read.
var errRobotsUnavailable = errors.New("robots.txt unavailable")

// download fetches and parses one robots.txt, reading at most robots.MaxSize
// bytes. An error means the server could not be reached or answered 5xx or
// 429; retryAfter is its Retry-After, if any.
func (c *robotsCache) download(ctx context.Context, robotsURL string) (*robots.Rules, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, robotsURL, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.client.Do(req)
	var blocked *netguard.BlockedError
	if errors.As(err, &blocked) {
		// No request can reach this address: treat robots.txt as absent so
		// the pages are refused at once, each with a "blocked address"
		// record, instead of waiting out back-offs for a server that will
		// never be contacted.
		return robots.AllowAll(), 0, nil
	}
	if err != nil {
		return nil, 0, fetchError(err)
	}
	defer resp.Body.Close()
	switch status := resp.StatusCode; {
	case status >= 200 && status < 300:
		body, err := io.ReadAll(io.LimitReader(resp.Body, robots.MaxSize))
		if err != nil {
			return nil, 0, fetchError(err)
		}
		return robots.Parse(body, c.token), 0, nil
	case status == http.StatusTooManyRequests || status >= 500:
		// A server asking us to slow down is not one that has no rules.
		wait, _ := retryAfter(resp.Header, time.Now())
		return nil, wait, fmt.Errorf("%w: %s", errRobotsUnavailable, resp.Status)
	default:
		return robots.AllowAll(), 0, nil
	}
}
