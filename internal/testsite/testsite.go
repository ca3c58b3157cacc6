// Package testsite serves a deterministic synthetic multi-host website on
// loopback addresses, so crawld's end-to-end tests, benchmarks and demo can
// crawl something realistic without touching the network.
//
// Host i listens on 127.0.0.(2+i) with a kernel-chosen port: distinct IP
// addresses make every host a separate politeness domain for the crawler,
// exactly as distinct sites would be. The link graph depends only on Config
// (most importantly Seed); only the ports differ between runs.
package testsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxHosts is the largest Config.Hosts: host i binds 127.0.0.(2+i), and the
// addresses must stay below the 127.0.0.255 broadcast-looking address.
const MaxHosts = 250

// DecoyPDFPath is the document every page links to when Config.Decoys is set.
// It is served (so a crawler that ignores extension filtering gets a real
// response and the test can see the request in the log), but a crawler is
// expected never to fetch it.
const DecoyPDFPath = "/files/report.pdf"

// Config describes the site. Zero values pick the documented defaults so
// that Config{} is a usable one-host site; -1 switches a link kind off
// where 0 already means "default".
type Config struct {
	// Hosts is the number of hosts (default 1 when 0); at most MaxHosts.
	Hosts int
	// PagesPerHost is the number of pages on each host (default 10 when 0).
	PagesPerHost int
	// LinksPerPage is the number of random same-host links per page besides
	// the chain link (default 3 when 0; -1 for none). It is capped by the
	// number of distinct pages available.
	LinksPerPage int
	// CrossLinks is the number of random links per page to pages on other
	// hosts (default 1 when 0 and Hosts > 1; -1 for none). Host i's page 0
	// always links to host i+1's page 0 regardless, to keep every host
	// reachable from the seed.
	CrossLinks int
	// Latency delays every response. The wait ends early when the client
	// gives up or the site closes, so slow benchmarks leak no goroutines.
	Latency time.Duration
	// Robots is the body of /robots.txt; "" serves 404 for it, which robots
	// parsers treat as "allow everything".
	Robots string
	// Seed selects the link graph; equal seeds give equal graphs.
	Seed int64
	// Decoys adds links the crawler must not fetch (mailto:, javascript:,
	// tel:, DecoyPDFPath) or must dedupe (a #fragment and an upper-cased
	// scheme variant of a page that is also linked normally).
	Decoys bool
	// Unavailable lists hosts (by index) that answer every request,
	// robots.txt included, with 503 Service Unavailable and a Retry-After
	// of RetryAfter, as an overloaded site does.
	Unavailable []int
	// RetryAfter is the Retry-After the Unavailable hosts send (default 5 s).
	RetryAfter time.Duration
	// ETags makes pages carry an ETag and answer a matching If-None-Match
	// with 304 Not Modified, as a site with HTTP caching does.
	ETags bool
	// Hubs, when positive, replaces the link graph with a fan-out, the shape
	// that fills a crawler's frontier fastest: each host's home page links
	// to the next host's home page and to Hubs hub pages ("/hub/J"), and
	// each hub links to LeavesPerHub leaf pages of its own
	// ("/hub/J/leaf/I") that link nowhere. A crawler that takes each host's
	// URLs first in, first out fetches every hub of a host before any of
	// its leaves, so its frontier peaks at about Hosts×Hubs×LeavesPerHub
	// URLs. PagesPerHost is then 1+Hubs×(1+LeavesPerHub) (leave it 0), and
	// LinksPerPage and CrossLinks must be 0 or -1 and Decoys off, since
	// leaves must stay link-free.
	Hubs int
	// LeavesPerHub is the number of leaves of each hub (default 10 when 0
	// and Hubs > 0); it needs Hubs.
	LeavesPerHub int
	// Padding adds this many bytes of filler HTML to every page, after its
	// links and before </body>: paragraphs with inline markup but no links,
	// for a crawler to read and parse as it would a real page's text
	// (0 for none). The filler is built once in Start and the same bytes
	// are written to every response, so that a site of 300 KB pages costs
	// the server little more than the copy: the crawler, not the site, is
	// the bottleneck. It does not change the link graph.
	Padding int
	// CountOnly keeps only the number of requests each host received
	// (RequestsPerHost) rather than a log entry and a per-URL count per
	// request, so that a site serving millions of requests stays small.
	// Requests, BusiestWindow and Count then panic: answering from an empty
	// log would pass any "never requested" assertion.
	CountOnly bool
	// Archival adds to host 0 the answers a web archive's round trip
	// needs (the Archival* paths: chunked, gzip-coded, a redirect, a 404,
	// a 500, an oversize body, two identical bodies, a sitemap), linked
	// from its home page besides the links Links lists.
	Archival bool
}

// Request is one request as the site saw it, for asserting crawler
// behaviour (politeness, User-Agent, dedupe) after the fact.
type Request struct {
	// Host is the address of the listener that served the request
	// ("127.0.0.2:41234"), not the client's Host header, so that it always
	// names one of Site.Hosts.
	Host string
	// Path is the decoded request path.
	Path string
	// RawQuery is the request's query without the "?".
	RawQuery string
	// UserAgent is the User-Agent header.
	UserAgent string
	// At is when the handler started, before the latency wait, so gaps
	// between requests measure the crawler's pacing rather than ours.
	At time.Time
}

// Site is a running synthetic website. Its methods are safe for concurrent
// use, including while pages are being served.
type Site struct {
	cfg     Config
	padding []byte // Config.Padding bytes of filler, shared by every page; never written to
	hosts   []string
	hostIdx map[string]int
	servers []*http.Server
	served  sync.WaitGroup // Serve loops
	done    chan struct{}  // closed by Close to cut latency waits short

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup // handlers; Add only under mu while !closed
	log      []Request
	counts   map[string]int
	perHost  []int // requests by host index, kept even with CountOnly
}

// Start binds one listener per host and serves the site until Close.
func Start(cfg Config) (*Site, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	s := &Site{
		cfg:     cfg,
		hostIdx: make(map[string]int, cfg.Hosts),
		done:    make(chan struct{}),
		counts:  make(map[string]int),
		perHost: make([]int, cfg.Hosts),
		padding: filler(cfg.Padding),
	}
	listeners := make([]net.Listener, 0, cfg.Hosts)
	for i := range cfg.Hosts {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.%d:0", 2+i))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("testsite: host %d: %w", i, err)
		}
		listeners = append(listeners, ln)
		addr := ln.Addr().String()
		s.hosts = append(s.hosts, addr)
		s.hostIdx[addr] = i
	}
	for i, ln := range listeners {
		srv := &http.Server{
			Handler:           s.handler(i),
			ReadHeaderTimeout: 10 * time.Second,
		}
		s.servers = append(s.servers, srv)
		s.served.Add(1)
		go func() {
			defer s.served.Done()
			_ = srv.Serve(ln) // returns ErrServerClosed after Close
		}()
	}
	return s, nil
}

func normalize(cfg Config) (Config, error) {
	switch {
	case cfg.Hosts < 0 || cfg.Hosts > MaxHosts:
		return cfg, fmt.Errorf("testsite: Hosts %d out of range [0, %d]", cfg.Hosts, MaxHosts)
	case cfg.PagesPerHost < 0:
		return cfg, errors.New("testsite: negative PagesPerHost")
	case cfg.LinksPerPage < -1:
		return cfg, errors.New("testsite: LinksPerPage below -1")
	case cfg.CrossLinks < -1:
		return cfg, errors.New("testsite: CrossLinks below -1")
	case cfg.Latency < 0:
		return cfg, errors.New("testsite: negative Latency")
	case cfg.Hubs < 0:
		return cfg, errors.New("testsite: negative Hubs")
	case cfg.LeavesPerHub < 0:
		return cfg, errors.New("testsite: negative LeavesPerHub")
	case cfg.LeavesPerHub > 0 && cfg.Hubs == 0:
		return cfg, errors.New("testsite: LeavesPerHub needs Hubs")
	case cfg.Padding < 0:
		return cfg, errors.New("testsite: negative Padding")
	}
	if cfg.Hosts == 0 {
		cfg.Hosts = 1
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Hubs > 0 {
		return normalizeFanOut(cfg)
	}
	if cfg.PagesPerHost == 0 {
		cfg.PagesPerHost = 10
	}
	switch cfg.LinksPerPage {
	case 0:
		cfg.LinksPerPage = 3
	case -1:
		cfg.LinksPerPage = 0
	}
	switch {
	case cfg.Hosts == 1 || cfg.CrossLinks == -1:
		cfg.CrossLinks = 0
	case cfg.CrossLinks == 0:
		cfg.CrossLinks = 1
	}
	return cfg, nil
}

// normalizeFanOut completes a fan-out Config. It refuses the random-graph
// settings rather than ignoring them, so that a caller who combines the two
// shapes learns that only one is served.
func normalizeFanOut(cfg Config) (Config, error) {
	if cfg.LeavesPerHub == 0 {
		cfg.LeavesPerHub = 10
	}
	// The bound keeps the page count from overflowing an int, with room to
	// spare: no test needs 2^31 pages on a host.
	if cfg.Hubs > (math.MaxInt32-1)/(1+cfg.LeavesPerHub) {
		return cfg, fmt.Errorf("testsite: %d hubs of %d leaves is too many pages per host", cfg.Hubs, cfg.LeavesPerHub)
	}
	pages := 1 + cfg.Hubs*(1+cfg.LeavesPerHub)
	switch {
	case cfg.PagesPerHost != 0 && cfg.PagesPerHost != pages:
		return cfg, fmt.Errorf("testsite: PagesPerHost %d with Hubs: leave it 0 (it is %d)", cfg.PagesPerHost, pages)
	case cfg.LinksPerPage > 0 || cfg.CrossLinks > 0:
		return cfg, errors.New("testsite: LinksPerPage and CrossLinks do not apply with Hubs")
	case cfg.Decoys:
		return cfg, errors.New("testsite: Decoys do not apply with Hubs")
	}
	cfg.PagesPerHost, cfg.LinksPerPage, cfg.CrossLinks = pages, 0, 0
	return cfg, nil
}

// Close stops every host, aborts pending latency waits and returns once all
// handlers have finished, so tests can check for leaked goroutines
// right after it. Calling it again is a no-op.
func (s *Site) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	s.served.Wait()
	s.inflight.Wait()
}

// Config returns the configuration with defaults filled in: LinksPerPage and
// CrossLinks are the actual counts (0 for none), never -1, and with Hubs,
// PagesPerHost is the number of pages of each host.
func (s *Site) Config() Config { return s.cfg }

// Hosts returns the "ip:port" address of every host, host 0 first.
func (s *Site) Hosts() []string { return append([]string(nil), s.hosts...) }

// Domains returns every host's IP address without its port, host 0 first:
// what allow_domains needs to keep a crawl on the site.
func (s *Site) Domains() []string {
	domains := make([]string, len(s.hosts))
	for i, h := range s.hosts {
		domains[i], _, _ = net.SplitHostPort(h)
	}
	return domains
}

// SeedURL returns host 0's home page, from which every page is reachable.
func (s *Site) SeedURL() string { return s.PageURL(0, 0) }

// PageURL returns the canonical URL of page k of host h, or "" if there is
// no such page.
func (s *Site) PageURL(h, k int) string {
	if h < 0 || h >= s.cfg.Hosts || k < 0 || k >= s.cfg.PagesPerHost {
		return ""
	}
	return "http://" + s.hosts[h] + s.path(k)
}

// Page returns the host and page indices of a page URL, the inverse of
// PageURL; like Links it accepts any form that resolves to the page. It
// lets a caller check millions of URLs against the site with a bitmap
// instead of a set of URLs.
func (s *Site) Page(pageURL string) (h, k int, ok bool) {
	p, ok := s.lookup(pageURL)
	return p.host, p.page, ok
}

// URLs returns the canonical URL of every page, host by host, in page order.
func (s *Site) URLs() []string {
	urls := make([]string, 0, s.cfg.Hosts*s.cfg.PagesPerHost)
	for h := range s.cfg.Hosts {
		for k := range s.cfg.PagesPerHost {
			urls = append(urls, s.PageURL(h, k))
		}
	}
	return urls
}

// Links returns the canonical URLs a page links to, in document order,
// without decoys. pageURL may be in any form that resolves to the page
// (e.g. with a fragment); it returns nil for URLs that are not pages.
func (s *Site) Links(pageURL string) []string {
	p, ok := s.lookup(pageURL)
	if !ok {
		return nil
	}
	edges := s.edges(p)
	out := make([]string, len(edges))
	for i, e := range edges {
		out[i] = s.PageURL(e.to.host, e.to.page)
	}
	return out
}

// Decoys returns the decoy hrefs of a page exactly as written in its HTML,
// in document order, or nil when Config.Decoys is off or pageURL is not a
// page.
func (s *Site) Decoys(pageURL string) []string {
	p, ok := s.lookup(pageURL)
	if !ok || !s.cfg.Decoys {
		return nil
	}
	return s.decoys(p, s.edges(p))
}

// Requests returns a copy of the request log in arrival order. It panics
// with Config.CountOnly, which keeps no log.
func (s *Site) Requests() []Request {
	s.mustLog("Requests")
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// RequestsPerHost returns how many requests each host that was requested
// received, whatever they asked for (robots.txt and 404s included). It
// works with Config.CountOnly too.
func (s *Site) RequestsPerHost() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perHost))
	for h, n := range s.perHost {
		if n > 0 {
			out[s.hosts[h]] = n
		}
	}
	return out
}

func (s *Site) mustLog(method string) {
	if s.cfg.CountOnly {
		panic("testsite: " + method + " needs the request log, which Config.CountOnly turns off")
	}
}

// BusiestWindow returns, for each host that was requested, the largest
// number of requests it received within any span shorter than window: the
// server-side measure of a crawler's politeness. With a per-host rate R and
// burst B, no value may exceed B + R*window. It panics with
// Config.CountOnly, which keeps no log.
func (s *Site) BusiestWindow(window time.Duration) map[string]int {
	byHost := make(map[string][]time.Time)
	for _, r := range s.Requests() {
		byHost[r.Host] = append(byHost[r.Host], r.At)
	}
	busiest := make(map[string]int, len(byHost))
	for host, times := range byHost {
		slices.SortFunc(times, time.Time.Compare)
		start := 0
		for end := range times {
			for times[end].Sub(times[start]) >= window {
				start++
			}
			busiest[host] = max(busiest[host], end-start+1)
		}
	}
	return busiest
}

// Count returns how many times rawURL was requested. Scheme and host case
// and any fragment are ignored, as they never reach the server; the query
// is significant. It panics with Config.CountOnly, which keeps no per-URL
// counts.
func (s *Site) Count(rawURL string) int {
	s.mustLog("Count")
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[countKey(strings.ToLower(u.Host), u.Path, u.RawQuery)]
}

func countKey(host, path, query string) string {
	if path == "" {
		path = "/"
	}
	if query != "" {
		return host + path + "?" + query
	}
	return host + path
}

// lookup maps any URL form of a page to the page.
func (s *Site) lookup(rawURL string) (page, bool) {
	h, path, ok := s.hostPath(rawURL)
	if !ok {
		return page{}, false
	}
	k, ok := s.parse(path)
	if !ok {
		return page{}, false
	}
	return page{h, k}, true
}

// hostPath returns the host and the path of an http URL on the site with
// no query.
func (s *Site) hostPath(rawURL string) (h int, path string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.RawQuery != "" {
		return 0, "", false
	}
	h, ok = s.hostIdx[strings.ToLower(u.Host)]
	return h, u.Path, ok
}

func (s *Site) handler(h int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.begin(h, r) {
			// Close has started; the connection is going away anyway.
			return
		}
		defer s.inflight.Done()
		if !s.wait(r.Context()) {
			// Returning normally would send an empty 200, which a client
			// still listening (during Close) would take for a real page.
			panic(http.ErrAbortHandler)
		}
		s.serve(w, r, h)
	})
}

// begin logs the request and registers the handler with Close, atomically,
// so that Close never waits on a handler it could not see.
func (s *Site) begin(h int, r *http.Request) bool {
	req := Request{
		Host:      s.hosts[h],
		Path:      r.URL.Path,
		RawQuery:  r.URL.RawQuery,
		UserAgent: r.UserAgent(),
		At:        time.Now(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	s.perHost[h]++
	if !s.cfg.CountOnly {
		s.log = append(s.log, req)
		s.counts[countKey(req.Host, req.Path, req.RawQuery)]++
	}
	return true
}

// wait sleeps for the configured latency on a timer rather than time.Sleep
// so that an abandoned request or Close releases the handler at once.
func (s *Site) wait(ctx context.Context) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Site) serve(w http.ResponseWriter, r *http.Request, h int) {
	if slices.Contains(s.cfg.Unavailable, h) {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Round(time.Second)/time.Second)))
		http.Error(w, "testsite: unavailable", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/robots.txt":
		if s.cfg.Robots == "" {
			http.NotFound(w, r)
			return
		}
		write(w, "text/plain; charset=utf-8", s.cfg.Robots)
		return
	case DecoyPDFPath:
		write(w, "application/pdf", fakePDF)
		return
	}
	if s.serveArchival(w, r, h) {
		return
	}
	k, ok := s.parse(r.URL.Path)
	if !ok || r.URL.RawQuery != "" {
		http.NotFound(w, r)
		return
	}
	if s.cfg.ETags {
		etag := fmt.Sprintf(`"p%d-%d-%d"`, s.cfg.Seed, h, k)
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	// The page's own part, then the shared padding and the closing tags,
	// so that the padding is never copied.
	head := s.render(page{h, k})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(s.padding)+len(pageEnd)))
	_, _ = io.WriteString(w, head)
	_, _ = w.Write(s.padding)
	_, _ = io.WriteString(w, pageEnd)
}

func write(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body)
}

// fakePDF is just enough of a PDF for content sniffers to agree with the
// Content-Type.
const fakePDF = "%PDF-1.4\n% testsite decoy: a crawler should never fetch this\n%%EOF\n"

// PaceViolation judges the arrival times of one host's requests (in any
// order) against a pace of one request per interval, and returns the pair
// that breaks it most, described, or "" if none does.
//
// Arrival times are not the crawler's start times: a request may reach the
// server up to lag after the crawler let it go (its worker, the dial, the
// server's goroutine all wait for a CPU on a busy machine), and when the
// earlier of two requests is late and the later is not, they arrive closer
// than the crawler spaced them. So the check is the token bucket's, with
// that lag allowed once: for the i-th and j-th arrivals (i < j),
// at[j]-at[i] >= (j-i)*interval - lag. With lag = interval this reads "no
// more than k+1 requests in any span shorter than k intervals": one request
// more than the pace allows, never two, which a crawler pacing at even
// (n-1)/(n-2) times the rate over n requests breaks.
func PaceViolation(at []time.Time, interval, lag time.Duration) string {
	at = slices.SortedFunc(slices.Values(at), time.Time.Compare)
	worst, wi, wj := time.Duration(0), 0, 0
	for i := range at {
		for j := i + 1; j < len(at); j++ {
			short := time.Duration(j-i)*interval - lag - at[j].Sub(at[i])
			if short > worst {
				worst, wi, wj = short, i, j
			}
		}
	}
	if worst == 0 {
		return ""
	}
	return fmt.Sprintf("requests %d and %d of %d arrived %v apart, want >= %d × %v - %v (a lag of up to %v allowed once)",
		wi+1, wj+1, len(at), at[wj].Sub(at[wi]), wj-wi, interval, lag, lag)
}
