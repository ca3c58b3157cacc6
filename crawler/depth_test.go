package crawler

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/redisq"
	"github.com/crawld/crawld/store"
)

// addHook is a Frontier that calls onAdd for each item Admit admitted.
type addHook struct {
	Frontier
	onAdd func(queue.Item, queue.Admission)
}

func (h addHook) Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error) {
	admissions, err := h.Frontier.Admit(ctx, items, lim)
	if err == nil {
		for i, a := range admissions {
			h.onAdd(items[i], a)
		}
	}
	return admissions, err
}

// closeOnce is a channel closed at most once.
type closeOnce struct {
	once sync.Once
	ch   chan struct{}
}

func newCloseOnce() *closeOnce { return &closeOnce{ch: make(chan struct{})} }
func (c *closeOnce) close()    { c.once.Do(func() { close(c.ch) }) }
func (c *closeOnce) closed() bool {
	select {
	case <-c.ch:
		return true
	default:
		return false
	}
}

// max_depth is the shortest link distance from a seed. The seed links to a
// long path (/l1 → /l2 → /l3 → /p, so /p at depth 4) and a short one (/short
// → /p, depth 2); /p links to /q, within max_depth 4 only through the short
// path. /short answers only once the long path has found /p: with one
// worker it answers 503 until then (and is retried), with more it holds
// its answer. Either /p is still queued when the short path finds it, and
// is fetched once with depth 2, or (/short waiting until /p was requested)
// it was fetched at depth 4, keeps that one record and is fetched again
// for its links, so /q is crawled at depth 3 in both cases.
func TestCrawl_ShortestDepth(t *testing.T) {
	for _, backend := range []string{"memory", "pebble", "redis"} {
		for _, fetched := range []bool{false, true} {
			for _, workers := range []int{1, 16} {
				name := fmt.Sprintf("%s/p-queued/workers-%d", backend, workers)
				if fetched {
					name = fmt.Sprintf("%s/p-fetched/workers-%d", backend, workers)
				}
				t.Run(name, func(t *testing.T) { testShortestDepth(t, backend, fetched, workers) })
			}
		}
	}
}

func testShortestDepth(t *testing.T, backend string, fetched bool, workers int) {
	pAdmitted, pRequested := newCloseOnce(), newCloseOnce()
	var logC, logD pathLog
	release := pAdmitted // what /short waits for
	if fetched {
		release = pRequested
	}
	// The addresses are known before any handler runs.
	lnA, baseA := listen(t, "127.0.0.2")
	lnC, baseC := listen(t, "127.0.0.3")
	lnD, baseD := listen(t, "127.0.0.4")
	// /p is on /short's host when it must still be queued when /short
	// answers: with one request in flight per host, it cannot be fetched
	// while /short is, nor before /short's retry, queued ahead of it.
	pBase, pLog := baseC, &logC
	if fetched {
		pBase, pLog = baseD, &logD
	}
	pages := pageHandler(pRequested, map[string]string{"/p": `<a href="/q">q</a>`, "/q": "q"})
	serveOn(t, lnA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/":
			fmt.Fprintf(w, `<a href="/l1">l1</a><a href="%s/short">short</a>`, baseC)
		case "/l1":
			fmt.Fprint(w, `<a href="/l2">l2</a>`)
		case "/l2":
			fmt.Fprint(w, `<a href="/l3">l3</a>`)
		case "/l3":
			fmt.Fprintf(w, `<a href="%s/p">p</a>`, pBase)
		default:
			http.NotFound(w, r)
		}
	}))
	serveOn(t, lnC, logC.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/short" {
			pages.ServeHTTP(w, r)
			return
		}
		if workers == 1 && !release.closed() {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-release.ch:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="%s/p">p</a>`, pBase)
	})))
	serveOn(t, lnD, logD.wrap(pages))

	cfg := testConfig(baseA + "/")
	cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	cfg.Robots = false
	cfg.Workers = workers
	cfg.MaxDepth = 4
	cfg.MaxPages = 7 // every page: a fetch for links only must not count
	cfg.MaxRetries = 1000
	cfg.MaxHostFailures = 1000
	fastRetries(&cfg)
	cfg.MaxRetryAfter = 50 * time.Millisecond

	qcfg := queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency, Depths: true}
	var front Frontier
	switch backend {
	case "memory":
		front = queue.NewMemory(qcfg)
	case "pebble":
		f, err := store.Open(t.TempDir(), qcfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Errorf("store close: %v", err)
			}
		})
		front = f
	case "redis":
		srv := redistest.Start(t)
		octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ocancel()
		f, err := redisq.Open(octx, redisq.Options{URL: srv.URL, CrawlID: "depth", ConfigHash: "test", Config: qcfg, MaxDepth: cfg.MaxDepth})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Errorf("redis close: %v", err)
			}
		})
		front = f
	}
	hooked := addHook{Frontier: front, onAdd: func(it queue.Item, a queue.Admission) {
		if it.URL == pBase+"/p" && a == queue.Added {
			pAdmitted.close()
		}
	}}
	sink := &recordSink{}
	mustRunOn(t, cfg, hooked, sink)
	recs := sink.byURL(t)
	wantP, wantRequests := 2, 1
	if fetched {
		// Its record was written before the short path was found; it was
		// fetched again for its links.
		wantP, wantRequests = 4, 2
	}
	if rec, ok := recs[pBase+"/p"]; !ok || rec.Depth != wantP || rec.Status != 200 {
		t.Errorf("/p: %+v (present %v), want status 200 at depth %d", rec, ok, wantP)
	}
	if rec, ok := recs[pBase+"/q"]; !ok || rec.Depth != 3 || rec.Status != 200 {
		t.Errorf("/q: %+v (present %v), want status 200 at depth 3 (through the short path)", rec, ok)
	}
	if len(recs) != 7 {
		t.Errorf("%d records, want 7 (/, /l1, /l2, /l3, /short, /p, /q)", len(recs))
	}
	if n := pLog.count("/p"); n != wantRequests {
		t.Errorf("/p requested %d times, want %d", n, wantRequests)
	}
	if n := pLog.count("/q"); n != 1 {
		t.Errorf("/q requested %d times, want 1", n)
	}
}

// pageHandler serves pages as HTML and closes requested when /p is asked
// for.
func pageHandler(requested *closeOnce, pages map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p" {
			requested.close()
		}
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, body)
	})
}

// listen opens a loopback listener on ip and returns it with its base URL.
func listen(t *testing.T, ip string) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	return ln, "http://" + ln.Addr().String()
}

// serveOn serves handler on ln until the test ends.
func serveOn(t *testing.T, ln net.Listener, handler http.Handler) {
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}
