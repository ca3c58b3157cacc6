package crawler

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crawld/crawld/queue"
)

// bigRobots is a robots.txt of about 15 KiB, whose rules take about 100 KiB.
var bigRobots = func() string {
	var b strings.Builder
	b.WriteString("User-agent: *\nDisallow: /private\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "Disallow: /f%d\n", i)
	}
	return b.String()
}()

// manyHosts serves handler on n loopback addresses, 127.0.0.10 and up, and
// returns their base URLs and hosts without ports.
func manyHosts(tb testing.TB, n int, handler http.Handler) (bases, domains []string) {
	tb.Helper()
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 10+i)
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			tb.Fatalf("listen %s: %v", ip, err)
		}
		srv := httptest.NewUnstartedServer(handler)
		srv.Listener = ln
		srv.Start()
		tb.Cleanup(srv.Close)
		bases = append(bases, srv.URL)
		domains = append(domains, ip)
	}
	return bases, domains
}

// requestLog counts requests by host and path.
type requestLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[string]int)
	}
	l.n[r.Host+r.URL.Path]++
}

func (l *requestLog) count(hostPath string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[hostPath]
}

// TestCrawl_ManyHostsKeepBoundedState crawls 30 hosts, each with a large
// robots.txt and each set aside: the robots.txt rules kept stay within
// max_robots_memory, and the state of hosts gone idle is dropped.
func TestCrawl_ManyHostsKeepBoundedState(t *testing.T) {
	var log requestLog
	bases, domains := manyHosts(t, 30, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, bigRobots)
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="/private">p</a><a href="/a">a</a><a href="/b">b</a>`)
		default:
			http.Error(w, "failing", http.StatusInternalServerError)
		}
	}))
	var seeds []string
	for _, b := range bases {
		seeds = append(seeds, b+"/")
	}
	cfg := testConfig(seeds...)
	cfg.AllowDomains = domains
	cfg.MaxRetries = 0
	cfg.MaxHostFailures = 1 // every host is set aside: state that used to be kept for ever
	cfg.MaxRobotsMemory = 300 << 10
	front := queue.NewMemory(queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
	sink := &recordSink{}
	c, err := New(cfg, front, sink, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	c.hosts.idleAfter = 0 // drop a host as soon as the frontier lets it go
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}

	recs := sink.byURL(t)
	for i, base := range bases {
		host := strings.TrimPrefix(base, "http://")
		if n := log.count(host + "/private"); n != 0 {
			t.Errorf("%s/private, disallowed, was requested %d times", base, n)
		}
		if rec := recs[base+"/"]; rec.Status != 200 {
			t.Errorf("%s/: %+v", base, rec)
		}
		// Set aside while it had /b queued: dropping the host's state
		// then would have let /b through.
		if rec := recs[base+"/b"]; !strings.Contains(rec.Error, "set aside") || log.count(host+"/b") != 0 {
			t.Errorf("host %d: %s/b: %+v, requested %d times; want it recorded as set aside, not requested", i, base, rec, log.count(host+"/b"))
		}
	}

	c.robots.mu.Lock()
	c.robots.trim(time.Now().Add(robotsKeepFresh)) // once the rules fetched for the crawl are no longer fresh
	entries, bytes := len(c.robots.entries), c.robots.bytes
	c.robots.mu.Unlock()
	one := int64(robotsEntryBytes + len("http://127.0.0.10:65535") + robotsRulesSize(t))
	if bytes > cfg.MaxRobotsMemory+one || entries >= len(bases) {
		t.Errorf("robots.txt rules of %d authorities kept, %d KiB; want at most max_robots_memory (%d KiB) and one more entry (%d KiB)",
			entries, bytes>>10, cfg.MaxRobotsMemory>>10, one>>10)
	}

	c.hosts.mu.Lock()
	c.hosts.sweep(time.Now(), len(c.hosts.hosts)) // the crawl is over: every host is idle
	kept := len(c.hosts.hosts)
	c.hosts.mu.Unlock()
	if kept != 0 {
		t.Errorf("the state of %d idle hosts is kept, want none", kept)
	}
}

// robotsRulesSize is the size of bigRobots' rules.
func robotsRulesSize(t *testing.T) int {
	t.Helper()
	cache := newTestRobotsCache(t)
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, bigRobots) }))
	res, _ := robotsOutcome(t, cache, base)
	return res.rules.Size()
}

// TestRobotsCache_KeepsRulesInUse: with room for a few authorities' rules,
// an authority used between every other keeps its rules (its robots.txt is
// fetched once), while the others' are dropped.
func TestRobotsCache_KeepsRulesInUse(t *testing.T) {
	var log requestLog
	bases, _ := manyHosts(t, 20, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		fmt.Fprint(w, bigRobots)
	}))
	cfg := testConfig("http://127.0.0.2/")
	cfg.MaxRobotsMemory = 300 << 10
	c := &Crawler{cfg: cfg}
	cache := newRobotsCache(cfg, newTestRobotsCache(t).client, c.backoff, nil)
	cache.keepFresh = 0 // the test consults the rules without putting items back
	ctx := context.Background()
	active := bases[0]
	for _, base := range bases {
		if v, _, err := cache.verdict(ctx, base, "/private"); err != nil || v != robotsFetchNow {
			t.Fatalf("%s: first verdict %v, %v; want a fetch", base, v, err)
		}
		cache.fetch(ctx, base)
		if v, _, err := cache.verdict(ctx, active, "/private"); err != nil || v != robotsDisallowed {
			t.Fatalf("the active authority's verdict: %v, %v; want disallowed from the rules held", v, err)
		}
	}
	if n := log.count(strings.TrimPrefix(active, "http://") + "/robots.txt"); n != 1 {
		t.Errorf("the active authority's robots.txt was fetched %d times, want once", n)
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if len(cache.entries) >= len(bases) || cache.bytes > cfg.MaxRobotsMemory+int64(robotsEntryBytes+len(active)+robotsRulesSize(t)) {
		t.Errorf("%d entries of %d KiB kept, want the rules within %d KiB", len(cache.entries), cache.bytes>>10, cfg.MaxRobotsMemory>>10)
	}
}

// TestCrawler_CrawlDelayOutlivesHostState: with autothrottle, which paces a
// host from its state, a Crawl-delay still held in the robots.txt rules is
// put back into the host's state after that was dropped while idle.
func TestCrawler_CrawlDelayOutlivesHostState(t *testing.T) {
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "User-agent: *\nCrawl-delay: 2\n")
	}))
	cfg := testConfig(base + "/")
	cfg.Autothrottle = true
	front := queue.NewMemory(queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
	c, err := New(cfg, front, &recordSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base + "/page")
	if err != nil {
		t.Fatal(err)
	}
	it := queue.Item{URL: u.String(), Host: u.Host}
	ctx := context.Background()
	if handled, err := c.obeyRobots(ctx, it, u); !handled || err != nil {
		t.Fatalf("first obeyRobots: %v, %v; want robots.txt fetched and the item put back", handled, err)
	}
	if got := c.hosts.get(it.Host).crawlDelay; got != 2*time.Second {
		t.Fatalf("crawl delay after robots.txt: %v, want 2s", got)
	}
	c.hosts.mu.Lock()
	c.hosts.remove(c.hosts.hosts[it.Host]) // the host went idle
	c.hosts.mu.Unlock()
	if handled, err := c.obeyRobots(ctx, it, u); handled || err != nil {
		t.Fatalf("second obeyRobots: %v, %v; want the page allowed", handled, err)
	}
	if got := c.hosts.get(it.Host).crawlDelay; got != 2*time.Second {
		t.Errorf("crawl delay once the host's state was dropped: %v, want 2s from the rules still held", got)
	}
}

// BenchmarkIdleHostMemory reports the heap a crawl of 60 hosts leaves
// behind per host once they are all idle (set aside after one failure),
// with robots.txt files of 2 KiB and 500 KiB and max_robots_memory 1 MiB:
//
//	go test ./crawler -run '^$' -bench IdleHostMemory -benchtime 1x
func BenchmarkIdleHostMemory(b *testing.B) {
	for _, size := range []int{2 << 10, 500 << 10} {
		b.Run(fmt.Sprintf("robots=%dKiB", size>>10), func(b *testing.B) {
			var robots strings.Builder
			robots.WriteString("User-agent: *\n")
			for i := 0; robots.Len() < size-40; i++ {
				fmt.Fprintf(&robots, "Disallow: /dir%d/*.php\n", i)
			}
			const hosts = 60
			bases, domains := manyHosts(b, hosts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/robots.txt":
					fmt.Fprint(w, robots.String())
				case "/":
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, `<a href="/a">a</a><a href="/b">b</a>`)
				default:
					http.Error(w, "failing", http.StatusInternalServerError)
				}
			}))
			var seeds []string
			for _, base := range bases {
				seeds = append(seeds, base+"/")
			}
			cfg := testConfig(seeds...)
			cfg.AllowDomains = domains
			cfg.MaxRetries = 0
			cfg.MaxHostFailures = 1
			cfg.MaxRobotsMemory = 1 << 20
			var perHost float64
			for range b.N {
				front := queue.NewMemory(queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				c, err := New(cfg, front, &recordSink{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				// As a minute later: rules no longer fresh, hosts idle.
				c.robots.mu.Lock()
				c.robots.trim(time.Now().Add(robotsKeepFresh))
				c.robots.mu.Unlock()
				c.hosts.mu.Lock()
				c.hosts.sweep(time.Now().Add(c.hosts.idleAfter), len(c.hosts.hosts))
				c.hosts.mu.Unlock()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perHost = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / hosts
				runtime.KeepAlive(c)
				runtime.KeepAlive(front)
			}
			b.ReportMetric(perHost, "heap-B/host")
		})
	}
}
