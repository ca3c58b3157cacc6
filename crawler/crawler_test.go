package crawler

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCrawl_FetchesEveryReachablePageOnce(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 15, Decoys: true, Seed: 7})
	cfg := testConfig(site.SeedURL())
	cfg.AllowDomains = site.Domains()
	leaks := goleak.IgnoreCurrent()
	sink := mustCrawl(t, cfg)
	goleak.VerifyNone(t, leaks) // the crawl ended by joining

	got := sink.byURL(t)
	want := site.URLs()
	if len(got) != len(want) {
		t.Errorf("records: got %d, want %d (one per page)", len(got), len(want))
	}
	for _, u := range want {
		rec, ok := got[u]
		if !ok {
			t.Errorf("no record for %s", u)
			continue
		}
		if rec.Status != 200 || rec.Error != "" || rec.FinalURL != u || rec.Bytes == 0 || rec.Links == 0 {
			t.Errorf("record for %s: %+v", u, rec)
		}
		if n := site.Count(u); n != 1 {
			t.Errorf("%s requested %d times, want 1", u, n)
		}
	}
	for _, h := range site.Hosts() {
		if n := site.Count("http://" + h + testsite.DecoyPDFPath); n != 0 {
			t.Errorf("%s: decoy pdf requested %d times", h, n)
		}
		if n := site.Count("http://" + h + "/robots.txt"); n != 1 {
			t.Errorf("%s: robots.txt requested %d times, want 1", h, n)
		}
	}
	for _, r := range site.Requests() {
		if r.UserAgent != cfg.UserAgent {
			t.Errorf("request %s%s: User-Agent %q, want %q", r.Host, r.Path, r.UserAgent, cfg.UserAgent)
			break
		}
	}
}

func TestCrawl_MaxPagesYieldsExactlyN(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 15, Decoys: true})
	for _, n := range []int{1, 7, 29, 30} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// Stopping at the limit must leave no worker, timer or
			// connection goroutine behind.
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			before := len(site.Requests())
			cfg := testConfig(site.SeedURL())
			cfg.AllowDomains = site.Domains()
			cfg.MaxPages = n
			cfg.Robots = false
			sink := mustCrawl(t, cfg)
			if got := len(sink.records()); got != n {
				t.Errorf("records: got %d, want %d", got, n)
			}
			if got := len(site.Requests()) - before; got != n {
				t.Errorf("requests seen by the server: got %d, want %d", got, n)
			}
		})
	}
}

func TestCrawl_MaxDepth(t *testing.T) {
	// A pure chain: page k is at depth k.
	site := startSite(t, testsite.Config{PagesPerHost: 10, LinksPerPage: -1, CrossLinks: -1})
	cfg := testConfig(site.SeedURL())
	cfg.MaxDepth = 3
	sink := mustCrawl(t, cfg)
	got := sink.byURL(t)
	if len(got) != 4 {
		t.Errorf("records: got %d, want 4 (depths 0..3)", len(got))
	}
	for k := range 10 {
		u := site.PageURL(0, k)
		rec, ok := got[u]
		if k <= 3 && (!ok || rec.Depth != k) {
			t.Errorf("page %d: record %+v, present %v; want depth %d", k, rec, ok, k)
		}
		if k > 3 && site.Count(u) != 0 {
			t.Errorf("page %d beyond max_depth was requested", k)
		}
	}
}

func TestCrawl_FilterRules(t *testing.T) {
	var other pathLog
	otherURL := serve(t, "127.0.0.3", other.wrap(htmlPages(map[string]string{"/": "<p>other host</p>"})))
	var log pathLog
	home := `<a href="/ok">ok</a><a href="/page.htm">htm</a><a href="/x.php?a=1">php</a>
		<a href="/doc.pdf">pdf</a><a href="/img.PNG">png</a><a href="ftp://127.0.0.2/file">ftp</a>
		<a href="` + otherURL + `/">other host</a><a href="mailto:x@example.invalid">mail</a>`
	base := serve(t, "127.0.0.2", log.wrap(htmlPages(map[string]string{
		"/": home, "/ok": "ok", "/page.htm": "htm", "/x.php": "php", "/doc.pdf": "pdf", "/img.PNG": "png",
	})))

	t.Run("defaults", func(t *testing.T) {
		sink := mustCrawl(t, testConfig(base+"/"))
		for _, p := range []string{"/", "/ok", "/page.htm", "/x.php"} {
			if n := log.count(p); n != 1 {
				t.Errorf("%s requested %d times, want 1", p, n)
			}
		}
		for _, p := range []string{"/doc.pdf", "/img.PNG"} {
			if n := log.count(p); n != 0 {
				t.Errorf("%s (extension not allowed) requested %d times", p, n)
			}
		}
		if n := other.total(); n != 0 {
			t.Errorf("host not in allow_domains received %d requests", n)
		}
		if got := len(sink.records()); got != 4 {
			t.Errorf("records: got %d, want 4", got)
		}
	})
	t.Run("allow another domain and extension", func(t *testing.T) {
		cfg := testConfig(base + "/")
		cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.3"}
		cfg.AllowExtensions = []string{"pdf", ""}
		mustCrawl(t, cfg)
		if n := log.count("/doc.pdf"); n != 1 {
			t.Errorf("/doc.pdf requested %d times once allowed, want 1", n)
		}
		if n := log.count("/page.htm"); n != 1 {
			t.Errorf("/page.htm requested again (%d) though htm is no longer allowed", n)
		}
		if n := other.count("/"); n != 1 {
			t.Errorf("allowed second host: / requested %d times, want 1", n)
		}
	})
}

func TestCrawl_ResolvesLinksAndCharsets(t *testing.T) {
	var log pathLog
	var base string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<base href="/sub/"><a href="rel">r</a><a href="//%s/proto">p</a>`, strings.TrimPrefix(base, "http://"))
		case "/sub/rel":
			w.Header().Set("Content-Type", "text/html; charset=windows-1252")
			fmt.Fprint(w, "<a href=\"/caf\xe9\">latin</a><a href=\"../up\">up</a><a href=\"/plain\">plain</a><a href=\"/gz\">gz</a>")
		case "/plain":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, `<a href="/from-plain">not a link in plain text</a>`)
		case "/gz":
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				http.Error(w, "gzip expected", http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			fmt.Fprint(zw, `<a href="/from-gzip">compressed link</a>`)
			zw.Close()
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "leaf")
		}
	})
	base = serve(t, "127.0.0.2", log.wrap(handler))
	mustCrawl(t, testConfig(base+"/"))
	for _, p := range []string{"/", "/sub/rel", "/proto", "/caf%C3%A9", "/up", "/plain", "/gz", "/from-gzip"} {
		if n := log.count(p); n != 1 {
			t.Errorf("%s requested %d times, want 1", p, n)
		}
	}
	if n := log.count("/from-plain"); n != 0 {
		t.Errorf("a link inside a text/plain body was followed")
	}
	if n := log.total(); n != 9 { // the eight pages and robots.txt
		t.Errorf("requests: got %d, want 9", n)
	}
}

func TestCrawl_ErrorsBecomeRecords(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String() + "/"
	closed.Close()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			// /hang is crawled on its own, with a short header timeout.
			fmt.Fprintf(w, `<a href="/500">a</a><a href="/big">b</a><a href="/reset">d</a><a href="%s">e</a><a href="/fine">f</a>`, refusedURL)
		case "/500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/big", "/hang", "/reset":
			serveFailure(w, r)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "fine")
		}
	})
	base := serve(t, "127.0.0.2", handler)
	cfg := testConfig(base + "/")
	cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.4"}
	cfg.MaxBody = 1000
	cfg.Robots = false
	cfg.MaxRetries = 0 // retries have their own test
	fastRetries(&cfg)
	// The pages that answer get the default timeouts, which a slow machine
	// cannot run into; /hang, which never sends headers, gets a short
	// header timeout of its own (fired early by load, it is still the
	// timeout under test).
	recs := mustCrawl(t, cfg).byURL(t)
	cfg.Seeds = []string{base + "/hang"}
	cfg.HeaderTimeout = time.Second
	maps.Copy(recs, mustCrawl(t, cfg).byURL(t))

	tests := []struct {
		url, wantErr string
		wantStatus   int
	}{
		{base + "/500", "500 Internal Server Error", 500},
		{base + "/big", "body too large", 0},
		{base + "/hang", "timeout", 0},
		{base + "/reset", "EOF", 0},
		{refusedURL, "connection refused", 0},
		{base + "/fine", "", 200},
	}
	for _, tt := range tests {
		rec, ok := recs[tt.url]
		if !ok {
			t.Errorf("no record for %s", tt.url)
			continue
		}
		if rec.Status != tt.wantStatus || !strings.Contains(rec.Error, tt.wantErr) || (tt.wantErr == "") != (rec.Error == "") {
			t.Errorf("%s: status %d error %q; want status %d error containing %q", tt.url, rec.Status, rec.Error, tt.wantStatus, tt.wantErr)
		}
	}
}

func TestCrawl_RobotsDisallowedIsRecordedNotFetched(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 6, Robots: "User-agent: *\nDisallow: /page/2\n"})
	sink := mustCrawl(t, testConfig(site.SeedURL()))
	disallowed := site.PageURL(0, 2)
	if n := site.Count(disallowed); n != 0 {
		t.Errorf("%s requested %d times despite robots.txt", disallowed, n)
	}
	rec, ok := sink.byURL(t)[disallowed]
	if !ok || rec.Status != 0 || rec.Error != "robots: disallowed" {
		t.Errorf("record for disallowed page: %+v (present %v)", rec, ok)
	}
	if reqs := site.Requests(); len(reqs) == 0 || reqs[0].Path != "/robots.txt" {
		t.Errorf("first request was not robots.txt: %+v", reqs)
	}
}

func TestCrawl_RateMeasuredServerSide(t *testing.T) {
	t.Parallel() // paced by timers: let it wait alongside the others
	const rate, burst = 4, 1
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 10, Decoys: true})
	cfg := testConfig(site.SeedURL())
	cfg.AllowDomains = site.Domains()
	cfg.Rate, cfg.Burst = rate, burst
	sink := mustCrawl(t, cfg)
	if got, want := len(sink.records()), len(site.URLs()); got != want {
		t.Fatalf("records: got %d, want %d", got, want)
	}
	// The site sees arrivals, which lag the crawler's starts by a time
	// that varies with the machine's load: PaceViolation allows one
	// interval of it (BusiestWindow's rate+burst in any second does not).
	byHost := map[string][]time.Time{}
	for _, r := range site.Requests() {
		byHost[r.Host] = append(byHost[r.Host], r.At)
	}
	for host, at := range byHost {
		if v := testsite.PaceViolation(at, time.Second/rate, time.Second/rate); v != "" {
			t.Errorf("%s: %s (rate %d, burst %d)", host, v, rate, burst)
		}
	}
	if got := len(byHost); got != 3 {
		t.Errorf("hosts requested: got %d, want 3", got)
	}
}

func TestCrawl_CancelFlushesFetchedRecords(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 200, Latency: 20 * time.Millisecond})
	cfg := testConfig(site.SeedURL())
	cfg.Workers = 4
	cfg.PerHostConcurrency = 4
	sink := &recordSink{notifyN: 5, reached: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sink.reached
		cancel()
	}()
	_, err := crawl(t, ctx, cfg, sink)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: got %v, want context.Canceled", err)
	}
	recs := sink.records()
	if len(recs) < 5 || len(recs) >= 200 {
		t.Errorf("records after cancel: got %d, want at least 5 and fewer than 200", len(recs))
	}
	for _, r := range recs {
		if r.Error != "" {
			t.Errorf("cancelled fetch recorded as an error: %+v", r)
		}
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"no seeds", func(c *Config) { c.Seeds = nil }, "seeds"},
		{"relative seed", func(c *Config) { c.Seeds = []string{"/x"} }, "seeds"},
		{"negative depth", func(c *Config) { c.MaxDepth = -1 }, "max_depth"},
		{"zero workers", func(c *Config) { c.Workers = 0 }, "workers"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"bad domain", func(c *Config) { c.AllowDomains = []string{"a/b"} }, "allow_domains"},
		{"bad scheme", func(c *Config) { c.AllowSchemes = []string{"ht tp"} }, "allow_schemes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.2/")
			tt.mutate(&cfg)
			_, err := New(cfg, queue.NewMemory(queue.Config{}), &recordSink{}, nil)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.wantKey {
				t.Errorf("New: got %v, want a ConfigError for %q", err, tt.wantKey)
			}
		})
	}
}

func TestJSONLSink(t *testing.T) {
	var b strings.Builder
	s := NewJSONLSink(&b)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if err := s.Write(Record{URL: "http://a/?x=1&y=2", FinalURL: "http://a/?x=1&y=2", Status: 200, FetchedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(Record{URL: "http://b/", FinalURL: "http://b/", Error: "robots: disallowed", FetchedAt: at}); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Errorf("records reached the writer before Flush: %q", b.String())
	}
	buffered := s.Buffered()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if buffered != b.Len() || s.Buffered() != 0 {
		t.Errorf("Buffered was %d before Flush and %d after, and Flush wrote %d bytes", buffered, s.Buffered(), b.Len())
	}
	want := `{"url":"http://a/?x=1&y=2","final_url":"http://a/?x=1&y=2","status":200,"depth":0,"content_type":"","bytes":0,"links":0,"fetched_at":"2026-11-22T10:00:00Z","duration_ms":0}
{"url":"http://b/","final_url":"http://b/","status":0,"depth":0,"content_type":"","bytes":0,"links":0,"fetched_at":"2026-11-22T10:00:00Z","duration_ms":0,"error":"robots: disallowed"}
`
	if got := b.String(); got != want {
		t.Errorf("output:\n got %s\nwant %s", got, want)
	}
}

// panickySink panics on the first write of one URL, as a bug in a worker
// would; the crawl must record it and carry on.
type panickySink struct {
	recordSink
	url      string
	panicked bool
}

func (s *panickySink) Write(r Record) error {
	s.mu.Lock()
	boom := r.URL == s.url && !s.panicked
	s.panicked = s.panicked || boom
	s.mu.Unlock()
	if boom {
		panic("injected")
	}
	return s.recordSink.Write(r)
}

func TestCrawl_PanicBecomesRecordAndCrawlGoesOn(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 10})
	sink := &panickySink{url: site.PageURL(0, 3)}
	front := queue.NewMemory(queue.Config{})
	c, err := New(testConfig(site.SeedURL()), front, sink, zaptest.NewLogger(t, zaptest.Level(zap.FatalLevel)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v (a panic must not hang Join or end the crawl)", err)
	}
	recs := sink.byURL(t)
	if rec := recs[site.PageURL(0, 3)]; !strings.Contains(rec.Error, "internal error: injected") || rec.ErrorKind != kindInternal || rec.Status != 0 {
		t.Errorf("record of the page whose handling panicked: %+v", rec)
	}
	// Its links were admitted before the panic, so the crawl still reaches every page.
	if got, want := len(recs), len(site.URLs()); got != want {
		t.Errorf("records: got %d, want %d", got, want)
	}
}

func TestCrawl_ReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/%d", &n)
		w.Header().Set("Content-Type", "text/html")
		if n < 250 {
			fmt.Fprintf(w, `<a href="/%d">a</a><a href="/%d">b</a>`, 2*n+1, 2*n+2)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	cfg := testConfig(srv.URL + "/0")
	cfg.PerHostConcurrency = 2
	recs := mustCrawl(t, cfg).records()
	if len(recs) != 501 {
		t.Fatalf("records: %d, want 501", len(recs))
	}
	// Keep-alive pools sized to the per-host concurrency, and no more
	// connections than that: two connections serve the whole crawl. (A
	// request that found no idle connection used to dial one even when
	// another request's connection freed up first and served it, leaving
	// one connection more; see newClient.)
	if n := conns.Load(); n > 2 {
		t.Errorf("%d connections for %d requests at per-host concurrency 2, want at most 2", n, len(recs)+1)
	}
}

func TestCrawler_AddSeeds(t *testing.T) {
	cfg := testConfig("http://127.0.0.2/")
	cfg.MaxPagesPerHost = 2
	c, err := New(cfg, queue.NewMemory(queue.Config{}), &recordSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{"http://127.0.0.2/a", "HTTP://127.0.0.2:80/a#x", "http://127.0.0.2/b", "http://127.0.0.2/c", "http://127.0.0.9/", "::bad"}
	got, err := c.AddSeeds(context.Background(), urls)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		accepted bool
		reason   string
	}{{true, ""}, {false, "duplicate"}, {true, ""}, {false, "max_pages"}, {false, "filtered: domain"}, {false, "invalid"}}
	for i, w := range want {
		if got[i].Accepted != w.accepted || !strings.HasPrefix(got[i].Reason, w.reason) {
			t.Errorf("%s: %+v, want accepted %v, reason %q", urls[i], got[i], w.accepted, w.reason)
		}
	}
}
