package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/crawld/crawld/internal/dnscache"
	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// dnsNegativeTTL is how long a failed name lookup is remembered: long enough
// that the links of one page to a dead host cost one query, short enough
// that a host coming back is noticed soon.
const dnsNegativeTTL = 30 * time.Second

// errBodyTooLarge marks a body cut off at MaxBody.
var errBodyTooLarge = errors.New("body too large")

// errHeadersTooLarge marks a response whose headers are over max_header_bytes.
var errHeadersTooLarge = errors.New("response headers too large")

// headersTooLarge reports whether err is net/http's refusal of response
// headers over Transport.MaxResponseHeaderBytes, which it gives as text only.
func headersTooLarge(err error) bool {
	return strings.Contains(err.Error(), "server response headers exceeded")
}

// maxEchoedURL bounds a URL quoted in a record's final_url or error when
// max_url_length sets no bound: a 10 MiB Location must not become a 20 MiB
// record.
const maxEchoedURL = 8 << 10

// truncatedMark ends a URL cut short by clipURL, so that it cannot be taken
// for the URL itself.
const truncatedMark = "…(truncated)"

// echoLimit is the longest URL a record quotes whole in its final_url or
// error: max_url_length, which no URL crawled is over, or maxEchoedURL.
func (c *Crawler) echoLimit() int {
	if c.cfg.MaxURLLength > 0 {
		return c.cfg.MaxURLLength
	}
	return maxEchoedURL
}

// clipURL returns s, or its first n bytes (cut on a UTF-8 boundary) marked
// as truncated if it is longer.
func clipURL(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + truncatedMark
}

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
		// Go's default lets one response hold 10 MiB of headers per worker.
		MaxResponseHeaderBytes: cfg.MaxHeaderBytes,
	}
	if proxy, _ := parseProxy(cfg.Proxy); proxy != nil { // validated by Config.Validate
		useProxy(transport, proxy, guard, cfg.AllowPrivateNetworks, lookup, &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second})
	} else {
		// Without a cap, a request that finds no idle connection dials one
		// and keeps the dial going even when another request's connection
		// frees up first and serves it: the dialled connection is one more
		// than the host's requests in flight ever needed. All of a host's
		// requests (robots.txt included) run in its per-host slots, so the
		// cap never holds a request back that a slot let go. (Through a
		// proxy, plain-HTTP targets share the proxy's connections: no cap.)
		transport.MaxConnsPerHost = cfg.PerHostConcurrency
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
	proto      string        // the protocol of the response, e.g. HTTP/2.0
	decoded    bool          // the transport took a gzip coding off the body
	truncated  string        // why body is the first bytes of a longer one (a warc.Truncated… reason); "" if whole
	// exchange is the exchange as an Archive takes it, with fetcher.capture.
	exchange func() warc.Exchange
}

// retryForMemory handles a fetch whose body found no memory within the fetch
// timeout. That memory is held by other fetches, so the host is neither
// charged with a failure nor paused: the item is tried again, counting as a
// retry so that it cannot circle for ever, or recorded as an error once it
// has used up max_retries.
func (c *Crawler) retryForMemory(ctx context.Context, it queue.Item, rec Record, cause error) error {
	if it.Attempt < c.cfg.MaxRetries {
		c.counts.retries.Add(1)
		c.metrics.retry()
		it.Attempt++
		return c.requeue(ctx, it)
	}
	if it.Attempt > 0 {
		cause = fmt.Errorf("giving up after %d retries: %w", it.Attempt, cause)
	}
	return c.finish(it, rec, withKind(kindBodyMemory, cause))
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
	capture   bool          // capture each exchange for an Archive (response.exchange)
}

// errBodyBudget marks a body that found no room in max_body_memory within
// the fetch timeout: the bodies held by all workers already take the memory
// allowed for them, so that a burst of huge responses (endless bodies, gzip
// bombs) cannot take the process's memory with it. It is no fault of the
// host: the URL is retried later, and the host not charged with a failure.
var errBodyBudget = errors.New("body memory budget exhausted")

// errBodyOverBudget marks a body larger than all of max_body_memory, which
// no wait can make room for.
var errBodyOverBudget = errors.New("body larger than max_body_memory")

// bodyBudget bounds the bytes of response bodies held at once, across
// workers. A body that does not fit waits, in arrival order, for others to
// give memory back.
//
// A reservation holding bytes may wait for more, so holders can wait on
// each other: when every reservation holding bytes is waiting and the first
// in line still does not fit, nobody would ever give anything back. The
// newest waiter holding bytes is then refused (errBodyBudget) instead, and
// the bytes it gives back let the others go on. A request that could not
// fit even if every other holder gave everything back is refused at once.
type bodyBudget struct {
	limit int64 // 0 means no bound

	mu      sync.Mutex // guards the fields below and the reservations' held
	used    int64
	holders int             // reservations holding bytes
	waiters []*budgetWaiter // in arrival order
}

// reservation is one body's share of a bodyBudget.
type reservation struct {
	b    *bodyBudget
	held int64
}

type budgetWaiter struct {
	r    *reservation
	n    int64
	done chan error // buffered: nil once granted, errBodyBudget if refused
}

// reserve returns an empty reservation of b.
func (b *bodyBudget) reserve() *reservation { return &reservation{b: b} }

// room returns the most bytes one reservation may ever hold.
func (b *bodyBudget) room() int64 {
	if b == nil || b.limit <= 0 {
		return math.MaxInt64
	}
	return b.limit
}

// take reserves n more bytes, waiting while they do not fit until ctx ends.
// It returns errBodyOverBudget at once if they cannot fit however long it
// waits, and errBodyBudget if ctx ends first or waiting could deadlock.
func (r *reservation) take(ctx context.Context, n int64) error {
	b := r.b
	if b == nil || b.limit <= 0 {
		return nil
	}
	b.mu.Lock()
	if r.held+n > b.limit {
		b.mu.Unlock()
		return errBodyOverBudget
	}
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.grant(r, n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{r: r, n: n, done: make(chan error, 1)}
	b.waiters = append(b.waiters, w)
	b.settle()
	b.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case err := <-w.done: // decided while ctx ended
		return err
	default:
	}
	b.waiters = slices.DeleteFunc(b.waiters, func(x *budgetWaiter) bool { return x == w })
	b.settle() // the next in line may fit now
	return errBodyBudget
}

// release gives back everything r holds. It may be called more than once.
func (r *reservation) release() {
	b := r.b
	if b == nil || b.limit <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.held == 0 {
		return
	}
	b.used -= r.held
	b.holders--
	r.held = 0
	b.settle()
}

// grant gives r n more bytes; b.mu is held.
func (b *bodyBudget) grant(r *reservation, n int64) {
	if r.held == 0 && n > 0 {
		b.holders++
	}
	r.held += n
	b.used += n
}

// settle grants the waiters in line while the first fits, and refuses one
// if that is the only way for the line to move; b.mu is held.
func (b *bodyBudget) settle() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > b.limit {
			break
		}
		b.waiters = b.waiters[1:]
		b.grant(w.r, w.n)
		w.done <- nil
	}
	if len(b.waiters) == 0 {
		return
	}
	newest, waitingHolders := -1, 0
	for i, w := range b.waiters {
		if w.r.held > 0 {
			newest = i
			waitingHolders++
		}
	}
	if waitingHolders < b.holders || newest <= 0 {
		// Some holder is not waiting and will give back, or only the
		// first in line holds bytes, and then it fits (take checked that
		// it can).
		return
	}
	w := b.waiters[newest]
	b.waiters = slices.Delete(b.waiters, newest, newest+1)
	w.done <- errBodyBudget
}

// bodyChunk is how much of a body is read, and reserved, at a time.
const bodyChunk = 64 << 10

// readBody reads at most limit+1 bytes from r into a buffer whose every
// byte of capacity was first reserved with take. room is the most take can
// ever reserve, so a body needing more fails with errBodyOverBudget rather
// than waiting for memory that cannot come. The caller gives back what take
// reserved once it is done with the body, also on error.
func readBody(r io.Reader, limit, sizeHint, room int64, take func(n int64) error) (body []byte, err error) {
	initial := int64(bodyChunk)
	if sizeHint > 0 {
		initial = min(sizeHint+1, limit+1)
	}
	initial = min(initial, room)
	if err := take(initial); err != nil {
		return nil, err
	}
	body = make([]byte, 0, initial)
	for int64(len(body)) <= limit {
		if len(body) == cap(body) {
			// Double, up to the body limit and to what may be reserved.
			grow := min(int64(cap(body)), limit+1-int64(cap(body)), room-int64(cap(body)))
			if grow <= 0 {
				return body, errBodyOverBudget
			}
			if err := take(grow); err != nil {
				return body, err
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
// closed rather than drained; when exchanges are captured, the response comes
// with that error, its body cut at maxBody, for the archive (the caller
// releases it), as it does with the error of a body whose reading failed
// (what was read). A body that makes no progress for the idle timeout is
// abandoned with errIdleTimeout. Extra headers (conditional-request
// validators) are added to the request.
func (f *fetcher) fetch(ctx context.Context, rawURL string, extra http.Header) (*response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	reqCtx, captured := traced(ctx, f.capture)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
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
	// Waiting for body memory is bounded by the fetch timeout, like the
	// rest of the fetch.
	wait := ctx
	if f.client.Timeout > 0 {
		var stopWait context.CancelFunc
		wait, stopWait = context.WithDeadline(ctx, start.Add(f.client.Timeout))
		defer stopWait()
	}
	mem := f.budget.reserve()
	var waited time.Duration
	take := func(n int64) error {
		// Waiting for memory is not the server stalling.
		watchdog.Stop()
		defer watchdog.Reset(f.idle)
		t := time.Now()
		defer func() { waited += time.Since(t) }()
		return mem.take(wait, n)
	}
	body, err := readBody(progressReader{resp.Body, func() { watchdog.Reset(f.idle) }}, f.maxBody, resp.ContentLength, f.budget.room(), take)
	release := mem.release
	switch {
	case errors.Is(err, errBodyBudget):
		release()
		return nil, err
	case errors.Is(err, errBodyOverBudget):
		release()
		return nil, fmt.Errorf("%w (%d bytes)", errBodyOverBudget, f.budget.room())
	case err != nil && context.Cause(ctx) == nil && f.client.Timeout > 0 && time.Since(start) >= f.client.Timeout && 2*waited >= f.client.Timeout:
		// The fetch ran out of time, most of it spent waiting for memory
		// rather than on a slow server.
		release()
		return nil, fmt.Errorf("%w (the fetch timed out after waiting for memory)", errBodyBudget)
	case err != nil:
		reason := warc.TruncatedDisconnect
		if errors.Is(context.Cause(ctx), errIdleTimeout) {
			err, reason = fmt.Errorf("%w for %v", errIdleTimeout, f.idle), warc.TruncatedTime
		} else {
			if timeoutError(err) {
				reason = warc.TruncatedTime
			}
			err = fmt.Errorf("read body: %w", err)
		}
		if captured == nil {
			release()
			return nil, err
		}
		// The server did answer, in part: what was read is archived.
		r := &response{status: resp.StatusCode, statusText: resp.Status, header: resp.Header, body: body, latency: latency, release: release,
			proto: resp.Proto, decoded: resp.Uncompressed, truncated: reason}
		captured.attach(req, r)
		return r, err
	}
	r := &response{status: resp.StatusCode, statusText: resp.Status, header: resp.Header, body: body, latency: latency, release: release,
		proto: resp.Proto, decoded: resp.Uncompressed}
	captured.attach(req, r)
	if int64(len(body)) > f.maxBody {
		tooLarge := fmt.Errorf("%w (> %d bytes)", errBodyTooLarge, f.maxBody)
		if captured == nil {
			release()
			return nil, tooLarge
		}
		r.body, r.truncated = body[:f.maxBody], warc.TruncatedLength
		return r, tooLarge
	}
	return r, nil
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
