package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/crawld/crawld/internal/dnscache"
	"github.com/crawld/crawld/internal/netguard"
)

// dnsNegativeTTL is how long a failed name lookup is remembered: long enough
// that the links of one page to a dead host cost one query, short enough
// that a host coming back is noticed soon.
const dnsNegativeTTL = 30 * time.Second

// errBodyTooLarge marks a body cut off at MaxBody.
var errBodyTooLarge = errors.New("body too large")

// newClient builds the HTTP client shared by all workers. Redirects are not
// followed here: the crawler re-queues each hop so that it is filtered,
// deduplicated and paced like any other request to its host.
//
// Every connection goes through guard at dial time, on the address actually
// connected to, so neither a name resolving to an internal address nor a
// redirect to one gets through. With cfg.Proxy, every request goes to the
// proxy instead and its target is checked before it is sent (useProxy).
func newClient(cfg Config, guard *netguard.Guard) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second, ControlContext: guard.ControlContext}
	dial := dialer.DialContext
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	if cfg.DNSCacheTTL > 0 {
		cache := dnscache.New(cfg.DNSCacheTTL, min(cfg.DNSCacheTTL, dnsNegativeTTL))
		dial, lookup = cache.DialContext(dial), cache.LookupNetIP
	}
	transport := &http.Transport{
		// No Proxy from the environment (HTTP_PROXY…): only cfg.Proxy,
		// whose targets useProxy checks.
		DialContext:           dial,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Keep as many idle connections to a host as requests may be in
		// flight to it, so politeness-paced requests reuse connections.
		MaxIdleConnsPerHost: cfg.PerHostConcurrency,
		MaxIdleConns:        cfg.Workers * 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if proxy, _ := parseProxy(cfg.Proxy); proxy != nil { // validated by Config.Validate
		useProxy(transport, proxy, guard, cfg.AllowPrivateNetworks, lookup, &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second})
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.FetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// response is what a fetch brings back: the status and headers, and the body
// read up to the size limit.
type response struct {
	status     int
	statusText string // e.g. "503 Service Unavailable"
	header     http.Header
	body       []byte
	latency    time.Duration // until the response headers arrived
	release    func()        // gives the body's memory back to the budget; call once done with body
}

// errIdleTimeout marks a body that stopped arriving: a server dripping bytes
// slowly enough to hold a worker for the whole fetch timeout.
var errIdleTimeout = errors.New("timeout: no body data")

// fetcher makes the crawler's GET requests.
type fetcher struct {
	client    *http.Client
	userAgent string
	maxBody   int64         // largest (decompressed) body read
	idle      time.Duration // longest wait for the next bytes of a body
	budget    *bodyBudget   // memory all bodies held at once may take
}

// errBodyBudget marks a body refused because the bodies held by all workers
// already take the memory allowed for them: a burst of huge responses
// (endless bodies, gzip bombs) must not take the process's memory with it.
// It is transient: the URL is retried after a back-off.
var errBodyBudget = errors.New("body memory budget exhausted")

// bodyBudget bounds the bytes of response bodies held at once, across
// workers. Taking never blocks, so workers holding parts of it cannot wait
// on each other.
type bodyBudget struct {
	limit int64 // 0 means no bound
	used  atomic.Int64
}

// take reserves n bytes and reports whether they fit.
func (b *bodyBudget) take(n int64) bool {
	if b == nil || b.limit <= 0 {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes reserved with take.
func (b *bodyBudget) give(n int64) {
	if b != nil && b.limit > 0 {
		b.used.Add(-n)
	}
}

// bodyChunk is how much of a body is read, and reserved, at a time.
const bodyChunk = 64 << 10

// readBody reads at most limit+1 bytes from r into a buffer whose every
// byte of capacity is reserved from budget. The caller gives back
// cap(body) once it is done with the body, also on error.
func readBody(r io.Reader, limit int64, budget *bodyBudget, sizeHint int64) (body []byte, err error) {
	initial := int64(bodyChunk)
	if sizeHint > 0 {
		initial = min(sizeHint+1, limit+1)
	}
	if !budget.take(initial) {
		return nil, errBodyBudget
	}
	body = make([]byte, 0, initial)
	for int64(len(body)) <= limit {
		if len(body) == cap(body) {
			grow := min(int64(cap(body)), limit+1-int64(cap(body))) // double, up to the limit
			grow = max(grow, 1)
			if !budget.take(grow) {
				return body, errBodyBudget
			}
			// The reservation now covers the new array; the old one is
			// garbage the collector reclaims.
			next := make([]byte, len(body), int64(cap(body))+grow)
			copy(next, body)
			body = next
		}
		n, err := r.Read(body[len(body):min(int64(cap(body)), limit+1)])
		body = body[:len(body)+n]
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return body, err
		}
	}
	return body, nil
}

// fetch GETs rawURL, reading at most maxBody bytes of the (decompressed)
// body, so that neither a huge page nor a gzip bomb can exhaust memory: a body
// over the limit is an error wrapping errBodyTooLarge, and the connection is
// closed rather than drained. A body that makes no progress for the idle
// timeout is abandoned with errIdleTimeout. Extra headers (conditional-request
// validators) are added to the request.
func (f *fetcher) fetch(ctx context.Context, rawURL string, extra http.Header) (*response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, extra)
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	latency := time.Since(start)
	defer resp.Body.Close()
	watchdog := time.AfterFunc(f.idle, func() { cancel(errIdleTimeout) })
	defer watchdog.Stop()
	body, err := readBody(progressReader{resp.Body, func() { watchdog.Reset(f.idle) }}, f.maxBody, f.budget, resp.ContentLength)
	release := func() { f.budget.give(int64(cap(body))) }
	switch {
	case errors.Is(err, errBodyBudget):
		release()
		return nil, err
	case err != nil:
		release()
		if errors.Is(context.Cause(ctx), errIdleTimeout) {
			return nil, fmt.Errorf("%w for %v", errIdleTimeout, f.idle)
		}
		return nil, fmt.Errorf("read body: %w", err)
	case int64(len(body)) > f.maxBody:
		release()
		return nil, fmt.Errorf("%w (> %d bytes)", errBodyTooLarge, f.maxBody)
	}
	return &response{status: resp.StatusCode, statusText: resp.Status, header: resp.Header, body: body, latency: latency, release: release}, nil
}

// progressReader calls progress after every read that returned data.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}
