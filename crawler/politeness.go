package crawler

import (
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
)

// hostStates tracks what the crawler has learnt about each host beyond its
// configured politeness: failures in a row, a Crawl-delay, an adaptive
// delay. Hosts with nothing to remember are not kept.
type hostStates struct {
	mu    sync.Mutex // guards hosts and their fields
	hosts map[string]*hostState
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
	st := s.hosts[host]
	if st == nil {
		st = &hostState{}
	}
	before := st.interval()
	change(st)
	if *st == (hostState{}) {
		delete(s.hosts, host)
	} else {
		s.hosts[host] = st
	}
	return st.interval(), st.interval() != before, st.setAside
}

// interval is the least time between two requests to the host that it asks
// for, on top of the configured rate.
func (st *hostState) interval() time.Duration { return max(st.crawlDelay, st.throttle) }

// get returns a copy of host's state.
func (s *hostStates) get(host string) hostState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.hosts[host]; st != nil {
		return *st
	}
	return hostState{}
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
