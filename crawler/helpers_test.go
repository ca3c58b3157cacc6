package crawler

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// recordSink keeps records in memory and can signal when n have arrived.
type recordSink struct {
	mu      sync.Mutex
	recs    []Record
	notifyN int
	reached chan struct{}
}

func (s *recordSink) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	if s.reached != nil && len(s.recs) == s.notifyN {
		close(s.reached)
	}
	return nil
}

func (s *recordSink) records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

func (s *recordSink) byURL(t *testing.T) map[string]Record {
	t.Helper()
	m := make(map[string]Record)
	for _, r := range s.records() {
		if _, dup := m[r.URL]; dup {
			t.Errorf("two records for %s", r.URL)
		}
		m[r.URL] = r
	}
	return m
}

// testConfig is a fast, unlimited-rate configuration for loopback servers.
func testConfig(seeds ...string) Config {
	cfg := DefaultConfig()
	cfg.Seeds = seeds
	cfg.Rate = 0
	cfg.Workers = 8
	cfg.ProgressInterval = 0
	cfg.UserAgent = "crawld-test/1.0 (+https://example.invalid)"
	cfg.FetchTimeout = 10 * time.Second
	cfg.AllowCIDRs = []string{"127.0.0.0/8"} // the test servers; the guard has its own test
	return cfg
}

func crawl(t *testing.T, ctx context.Context, cfg Config, sink *recordSink) (Summary, error) {
	t.Helper()
	front := queue.NewMemory(queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
	return runOn(t, ctx, cfg, front, sink, zap.WarnLevel)
}

// runOn runs a crawl of cfg on front, writing to sink and logging at level
// and above to the test's log. The minute it is given only bounds a hang.
func runOn(t *testing.T, ctx context.Context, cfg Config, front Frontier, sink Sink, level zapcore.Level, opts ...Option) (Summary, error) {
	t.Helper()
	c, err := New(cfg, front, sink, zaptest.NewLogger(t, zaptest.Level(level)), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return c.Run(ctx)
}

// mustRunOn is runOn for a crawl that must end without an error.
func mustRunOn(t *testing.T, cfg Config, front Frontier, sink Sink, opts ...Option) {
	t.Helper()
	if _, err := runOn(t, context.Background(), cfg, front, sink, zap.WarnLevel, opts...); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func mustCrawl(t *testing.T, cfg Config) *recordSink {
	t.Helper()
	sink := &recordSink{}
	if _, err := crawl(t, context.Background(), cfg, sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sink
}

func startSite(t *testing.T, cfg testsite.Config) *testsite.Site {
	t.Helper()
	site, err := testsite.Start(cfg)
	if err != nil {
		t.Fatalf("testsite.Start: %v", err)
	}
	t.Cleanup(site.Close)
	return site
}

// serve starts handler on a loopback address such as "127.0.0.2" and
// returns its base URL ("http://127.0.0.2:PORT").
func serve(t *testing.T, ip string, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// pathLog counts the requests a handler sees, by escaped path.
type pathLog struct {
	mu    sync.Mutex
	paths map[string]int
}

func (l *pathLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		if l.paths == nil {
			l.paths = make(map[string]int)
		}
		l.paths[r.URL.EscapedPath()]++
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *pathLog) count(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paths[path]
}

func (l *pathLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.paths {
		n += c
	}
	return n
}

// htmlPages serves fixed HTML bodies by path; other paths are 404.
func htmlPages(pages map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.EscapedPath()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	})
}

// serveFailure answers the paths whose fetch fails in a set way: /big, 5,000
// bytes of HTML (over a max_body of 1,000); /hang, no answer until the
// client gives up; /reset, the connection closed unanswered.
func serveFailure(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/big":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, strings.Repeat("x", 5000))
	case "/hang":
		<-r.Context().Done()
	case "/reset":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}
}

// crawlArchived crawls cfg on a memory frontier, archiving to a new
// directory with archiveCfg (Dir set here) besides opts, and returns the
// directory, its archive closed, and the records.
func crawlArchived(t *testing.T, cfg Config, archiveCfg warc.Config, opts ...Option) (string, *recordSink) {
	t.Helper()
	archiveCfg.Dir = t.TempDir()
	archive, err := warc.Open(archiveCfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	mustRunOn(t, cfg, queue.NewMemory(queue.Config{}), sink, append(opts, WithArchive(archive))...)
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}
	return archiveCfg.Dir, sink
}
