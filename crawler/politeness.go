package crawler

import (
	"container/list"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// hostStates tracks what the crawler has learnt about each host beyond its
// configured politeness: failures in a row, a Crawl-delay, an adaptive
// delay. Hosts with nothing to remember are not kept, and neither are hosts
// gone idle, so that memory follows the hosts being crawled: a host unused
// for idleAfter is dropped once the frontier no longer holds it (nothing
// queued, in flight or blocked: see HostHolder), or, with a frontier that
// cannot tell, as soon as it is idle that long. So a host set aside stays
// set aside while the frontier has items of it, and its pacing outlives its
// state in the frontier (SetInterval), or in the robots.txt rules.
type hostStates struct {
	mu        sync.Mutex // guards hosts, used and the entries
	hosts     map[string]*hostEntry
	used      list.List              // the entries, most recently used first
	held      func(host string) bool // the frontier's Holds; nil if it cannot tell
	idleAfter time.Duration          // how long a host goes unused before it may be dropped
}

// hostIdleAfter is how long a host's state is kept unused: with a frontier
// that tells when it holds a host, a minute before it is asked; without,
// the longest a host with items may be left alone by its own pacing (a
// back-off, a Crawl-delay, autothrottle).
func hostIdleAfter(cfg Config, frontierTells bool) time.Duration {
	if frontierTells {
		return time.Minute
	}
	return max(cfg.MaxRetryAfter, cfg.MaxCrawlDelay, cfg.AutothrottleMaxDelay, time.Minute)
}

// hostSweepBatch is how many of the least recently used hosts each call
// looks at; more than the one host a call may add, so the idle are dropped
// as fast as they come.
const hostSweepBatch = 4

type hostEntry struct {
	name   string
	state  hostState
	usedAt time.Time
	elem   *list.Element // in hostStates.used
}

type hostState struct {
	failures   int           // failed requests in a row
	setAside   bool          // too many failures: the host's URLs are recorded, not fetched
	lastError  string        // the latest failure, for the records of a host set aside
	crawlDelay time.Duration // from robots.txt, capped at max_crawl_delay
	throttle   time.Duration // autothrottle's current delay; 0 when off
}

// update applies change to host's state. It returns the interval the
// frontier should keep between the host's requests, whether that changed,
// and whether the host is set aside.
func (s *hostStates) update(host string, change func(*hostState)) (interval time.Duration, changed, setAside bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var st hostState
	e := s.hosts[host]
	if e != nil {
		st = e.state
	}
	before := st.interval()
	change(&st)
	switch {
	case st == (hostState{}):
		if e != nil {
			s.remove(e)
		}
	case e == nil:
		e = &hostEntry{name: host}
		e.elem = s.used.PushFront(e)
		s.hosts[host] = e
		fallthrough
	default:
		e.state = st
		s.touch(e, now)
	}
	s.sweep(now, hostSweepBatch)
	return st.interval(), st.interval() != before, st.setAside
}

// interval is the least time between two requests to the host that it asks
// for, on top of the configured rate.
func (st *hostState) interval() time.Duration { return max(st.crawlDelay, st.throttle) }

// get returns a copy of host's state.
func (s *hostStates) get(host string) hostState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var st hostState
	if e := s.hosts[host]; e != nil {
		s.touch(e, now)
		st = e.state
	}
	s.sweep(now, hostSweepBatch)
	return st
}

// touch marks e as used at now; s.mu is held.
func (s *hostStates) touch(e *hostEntry, now time.Time) {
	e.usedAt = now
	s.used.MoveToFront(e.elem)
}

// remove forgets e; s.mu is held.
func (s *hostStates) remove(e *hostEntry) {
	s.used.Remove(e.elem)
	delete(s.hosts, e.name)
}

// sweep looks at up to n of the least recently used hosts, and drops those
// gone idle (see hostStates); s.mu is held.
func (s *hostStates) sweep(now time.Time, n int) {
	for range n {
		el := s.used.Back()
		if el == nil {
			return
		}
		e := el.Value.(*hostEntry)
		if now.Sub(e.usedAt) < s.idleAfter {
			return
		}
		if s.held != nil && s.held(e.name) {
			s.touch(e, now) // asked again in idleAfter
			continue
		}
		s.remove(e)
	}
}

// keepCrawlDelay puts authority's Crawl-delay back into the state of host,
// dropped while the host was idle and its robots.txt rules were not. Only
// autothrottle computes a host's interval from its state anew, so only
// then could a forgotten Crawl-delay let the host be paced faster than it
// asks.
func (c *Crawler) keepCrawlDelay(ctx context.Context, host, authority string) {
	if !c.cfg.Autothrottle {
		return
	}
	delay := min(c.robots.crawlDelay(authority), c.cfg.MaxCrawlDelay)
	if c.hosts.get(host).crawlDelay == delay {
		return
	}
	interval, changed, _ := c.hosts.update(host, func(st *hostState) { st.crawlDelay = delay })
	if changed {
		c.front.SetInterval(ctx, host, interval)
	}
}

// backoff returns how long a host is left alone after its failures-th
// failure in a row: an exponential back-off with jitter (0.5× to 1.5×), or
// the server's Retry-After when it gave one, both capped at max_retry_after.
func (c *Crawler) backoff(failures int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.cfg.MaxRetryAfter)
	}
	d := c.cfg.RetryBackoff << min(failures-1, 30)
	if d <= 0 || d > c.cfg.MaxRetryAfter {
		d = c.cfg.MaxRetryAfter
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 10.2.3). A date in the past means no wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(1<<62/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryableStatus reports whether a response status is worth retrying later:
// the server is overloaded, failing for now or asking us to slow down (the
// set Scrapy retries).
func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, 522, 524:
		return true
	}
	return false
}

// transientError reports whether a failed fetch may succeed if tried again:
// timeouts, refused or reset connections, connections closed early. A body
// over the size cap, a malformed URL or an unknown host will not change.
func transientError(err error) bool {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errBodyTooLarge):
		return false
	case errors.As(err, &dnsErr):
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	case errors.Is(err, errIdleTimeout),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// timeoutError reports whether err is a timeout: of the connect, the
// headers, the whole fetch or the body's progress.
func timeoutError(err error) bool {
	var netErr net.Error
	return errors.Is(err, errIdleTimeout) || (errors.As(err, &netErr) && netErr.Timeout())
}

// throttleDelay is AutoThrottle's rule (Scrapy's): aim for a delay of
// latency/targetConcurrency, moving halfway there from the current delay,
// never below the target, and not lowering the delay on a non-200 answer
// (errors come fast and would otherwise speed the crawl up).
func throttleDelay(current, latency time.Duration, targetConcurrency float64, status int, maxDelay time.Duration) time.Duration {
	target := time.Duration(float64(latency) / targetConcurrency)
	next := max(target, (current+target)/2)
	if status != http.StatusOK && next < current {
		next = current
	}
	return min(next, maxDelay)
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
