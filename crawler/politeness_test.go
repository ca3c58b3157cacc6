package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
)

// timedLog records when each request arrived, by escaped path.
type timedLog struct {
	mu    sync.Mutex
	order []string
	at    map[string][]time.Time
}

func (l *timedLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		if l.at == nil {
			l.at = make(map[string][]time.Time)
		}
		p := r.URL.EscapedPath()
		l.order = append(l.order, p)
		l.at[p] = append(l.at[p], time.Now())
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *timedLog) times(path string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at[path]...)
}

func (l *timedLog) paths() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

func (l *timedLog) all() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []time.Time
	for _, ts := range l.at {
		all = append(all, ts...)
	}
	return all
}

// fastRetries makes back-off short enough for tests.
func fastRetries(cfg *Config) {
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.MaxRetryAfter = 10 * time.Second
}

func TestCrawl_CrawlDelay(t *testing.T) {
	t.Parallel() // paced by timers: let it wait alongside the others
	site := startSite(t, testsite.Config{PagesPerHost: 4, Robots: "User-agent: *\nCrawl-delay: 1\n"})
	cfg := testConfig(site.SeedURL())
	cfg.Rate = 0
	mustCrawl(t, cfg)
	reqs := site.Requests()
	if len(reqs) != 5 {
		t.Fatalf("requests: got %d, want robots.txt and 4 pages", len(reqs))
	}
	// The site sees arrivals, which lag the crawler's starts by a varying
	// time on a busy machine: PaceViolation allows a lag of one interval.
	if v := testsite.PaceViolation(arrivals(reqs), time.Second, time.Second); v != "" {
		t.Errorf("Crawl-delay 1 s: %s", v)
	}
}

// arrivals is when each request reached the site.
func arrivals(reqs []testsite.Request) []time.Time {
	var at []time.Time
	for _, r := range reqs {
		at = append(at, r.At)
	}
	return at
}

func TestCrawl_MaxCrawlDelayCaps(t *testing.T) {
	t.Parallel() // paced by timers: let it wait alongside the others
	site := startSite(t, testsite.Config{PagesPerHost: 3, Robots: "User-agent: *\nCrawl-delay: 3600\n"})
	cfg := testConfig(site.SeedURL())
	cfg.MaxCrawlDelay = 300 * time.Millisecond
	// Uncapped, the 1 h Crawl-delay would hold the crawl past the crawl
	// helper's 60 s bound, and mustCrawl would fail.
	mustCrawl(t, cfg)
	reqs := site.Requests()
	if len(reqs) != 4 {
		t.Fatalf("requests: got %d, want robots.txt and 3 pages", len(reqs))
	}
	if v := testsite.PaceViolation(arrivals(reqs), 300*time.Millisecond, 300*time.Millisecond); v != "" {
		t.Errorf("capped at 300 ms: %s", v)
	}
}

func TestCrawl_RetryAfterPausesOnlyThatHost(t *testing.T) {
	t.Parallel() // paced by timers: let it wait alongside the others
	other := startSite(t, testsite.Config{PagesPerHost: 20})
	var log timedLog
	var mu sync.Mutex
	refused := false
	slowHost := serve(t, "127.0.0.9", log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := r.URL.Path == "/" && !refused
		refused = refused || first
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "2")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "ok")
	})))
	cfg := testConfig(slowHost+"/", other.SeedURL())
	cfg.Rate, cfg.Burst = 4, 1
	fastRetries(&cfg)
	sink := mustCrawl(t, cfg)

	roots := log.times("/")
	if len(roots) != 2 {
		t.Fatalf("/ on the refusing host requested %d times, want 2 (refused, then retried)", len(roots))
	}
	refusedAt, retriedAt := roots[0], roots[1]
	// The pause counts from the crawler's reading of the 429, which came
	// after the site saw the request: load can only lengthen this gap.
	if gap := retriedAt.Sub(refusedAt); gap < 2*time.Second-5*time.Millisecond {
		t.Errorf("retried after %v, want >= 2s (Retry-After)", gap)
	}
	// The other host goes on during the 2 s pause elsewhere (at 4/s, 8
	// requests). Paused with it, it would get at most the requests already
	// on their way (one at burst 1). A busy machine may slow the crawl, so
	// not 8 but 3 are asked for.
	n := 0
	for _, r := range other.Requests() {
		if !r.At.Before(refusedAt) && r.At.Before(refusedAt.Add(2*time.Second)) {
			n++
		}
	}
	if n < 3 {
		t.Errorf("the other host got %d requests during the 2 s pause, want >= 3 (8 at 4/s): it was paused too", n)
	}
	if rec := sink.byURL(t)[slowHost+"/"]; rec.Status != 200 || rec.Error != "" {
		t.Errorf("record after the retry: %+v", rec)
	}
}

func TestCrawl_RetriesTransientFailures(t *testing.T) {
	var mu sync.Mutex
	calls := make(map[string]int)
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		n := calls[r.URL.Path]
		mu.Unlock()
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="/flaky">f</a><a href="/broken">b</a><a href="/missing">m</a>`)
		case "/flaky":
			if n <= 2 {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, "finally")
		case "/broken":
			http.Error(w, "always", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/")
	cfg.Robots = false
	fastRetries(&cfg)
	recs := mustCrawl(t, cfg).byURL(t)

	if rec := recs[base+"/flaky"]; rec.Status != 200 || rec.Error != "" {
		t.Errorf("/flaky after two 503s: %+v", rec)
	}
	if rec := recs[base+"/broken"]; rec.Status != http.StatusBadGateway || !strings.Contains(rec.Error, "giving up after 3 retries") {
		t.Errorf("/broken: %+v", rec)
	}
	if rec := recs[base+"/missing"]; rec.Status != http.StatusNotFound || rec.Error != "" {
		t.Errorf("/missing (404 is an answer, not retried): %+v", rec)
	}
	for path, want := range map[string]int{"/flaky": 3, "/broken": 4, "/missing": 1} {
		if got := len(log.times(path)); got != want {
			t.Errorf("%s requested %d times, want %d", path, got, want)
		}
	}
}

func TestCrawl_FailingHostIsSetAside(t *testing.T) {
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "down", http.StatusInternalServerError)
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	var seeds []string
	for i := range 20 {
		seeds = append(seeds, fmt.Sprintf("%s/p%d", base, i))
	}
	cfg := testConfig(seeds...)
	cfg.MaxHostFailures = 5
	fastRetries(&cfg)
	recs := mustCrawl(t, cfg).records()
	if len(recs) != 20 {
		t.Fatalf("records: got %d, want 20", len(recs))
	}
	setAside := 0
	for _, r := range recs {
		if strings.Contains(r.Error, "set aside") {
			setAside++
		}
	}
	if pages := len(log.all()) - 1; pages != 5 {
		t.Errorf("page requests: got %d, want exactly max_host_failures (5)", pages)
	}
	if setAside < 15 {
		t.Errorf("records set aside without a request: got %d, want >= 15", setAside)
	}
}

// intervalLog is a memory frontier that records the intervals the crawler
// sets: its own pacing decisions, whatever the machine's load does to when
// requests then arrive.
type intervalLog struct {
	*queue.Memory
	mu  sync.Mutex
	set []time.Duration
}

func (l *intervalLog) SetInterval(ctx context.Context, host string, d time.Duration) {
	l.mu.Lock()
	l.set = append(l.set, d)
	l.mu.Unlock()
	l.Memory.SetInterval(ctx, host, d)
}

func TestCrawl_Autothrottle(t *testing.T) {
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		var n int
		fmt.Sscanf(r.URL.Path, "/%d", &n)
		fmt.Fprintf(w, `<a href="/%d">next</a>`, n+1)
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/0")
	cfg.Robots = false
	cfg.Autothrottle = true
	cfg.AutothrottleStartDelay = 400 * time.Millisecond
	cfg.MaxPages = 4
	front := &intervalLog{Memory: queue.NewMemory(queue.Config{PerHostConcurrency: cfg.PerHostConcurrency})}
	sink := &recordSink{}
	c, err := New(cfg, front, sink, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // bounds a hang
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if all := log.paths(); len(all) != 4 {
		t.Fatalf("requests: got %q, want 4", all)
	}
	// After each page the delay moves halfway from the current one to the
	// page's latency, which on an idle machine is ~0: 200, 100, 50 ms. The
	// latency is the crawler's own measure, which load lengthens; it is at
	// most the record's duration (rounded down to the millisecond). The
	// frontier's keeping of the intervals is queue's to test, with a fake
	// clock; the arrival times here would carry the machine's load.
	recs := sink.byURL(t)
	front.mu.Lock()
	set := slices.Clone(front.set)
	front.mu.Unlock()
	if len(set) < 3 {
		t.Fatalf("intervals set: %v, want one after each of the first 3 pages at least", set)
	}
	current := cfg.AutothrottleStartDelay
	for i, got := range set[:3] {
		took := time.Duration(recs[fmt.Sprintf("%s/%d", base, i)].DurationMS+1) * time.Millisecond
		lo := throttleDelay(current, 0, cfg.AutothrottleTargetConcurrency, 200, cfg.AutothrottleMaxDelay)
		hi := throttleDelay(current, took, cfg.AutothrottleTargetConcurrency, 200, cfg.AutothrottleMaxDelay)
		if got < lo || got > hi {
			t.Errorf("interval after /%d: %v, want within [%v, %v]: halfway from %v to a latency of at most %v", i, got, lo, hi, current, took)
		}
		current = got
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		got, ok := retryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Crawler{cfg: DefaultConfig()}
	for failures := 1; failures <= 40; failures++ {
		base := min(time.Second<<min(failures-1, 30), time.Hour)
		for range 20 {
			d := c.backoff(failures, 0)
			if d < base/2 || d > base*3/2 {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, base/2, base*3/2)
			}
		}
	}
	if d := c.backoff(1, 5*time.Second); d != 5*time.Second {
		t.Errorf("backoff with Retry-After 5s = %v, want exactly 5s", d)
	}
	if d := c.backoff(1, 48*time.Hour); d != time.Hour {
		t.Errorf("backoff with Retry-After 48h = %v, want the 1h cap", d)
	}
}

func TestTransientError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{syscall.ECONNREFUSED, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("%w (> 10 bytes)", errBodyTooLarge), false},
		{errors.New("unsupported protocol scheme"), false},
	}
	for _, tt := range tests {
		if got := transientError(tt.err); got != tt.want {
			t.Errorf("transientError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestThrottleDelay(t *testing.T) {
	tests := []struct {
		name             string
		current, latency time.Duration
		target           float64
		status           int
		want             time.Duration
	}{
		{"moves halfway down", 4 * time.Second, 0, 1, 200, 2 * time.Second},
		{"never below the target", 100 * time.Millisecond, time.Second, 1, 200, time.Second},
		{"target divides latency", 2 * time.Second, 2 * time.Second, 4, 200, 1250 * time.Millisecond},
		{"an error never speeds up", 2 * time.Second, 0, 1, 500, 2 * time.Second},
		{"an error may slow down", time.Second, 4 * time.Second, 1, 500, 4 * time.Second},
		{"capped", 50 * time.Second, 200 * time.Second, 1, 200, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := throttleDelay(tt.current, tt.latency, tt.target, tt.status, 60*time.Second); got != tt.want {
				t.Errorf("throttleDelay = %v, want %v", got, tt.want)
			}
		})
	}
}
