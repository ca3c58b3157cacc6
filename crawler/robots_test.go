package crawler

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/internal/testsite"
)

func newTestRobotsCache(t *testing.T) *robotsCache {
	t.Helper()
	cfg := testConfig("http://127.0.0.2/")
	c := &Crawler{cfg: cfg}
	guard, err := netguard.New(false, cfg.AllowCIDRs)
	if err != nil {
		t.Fatal(err)
	}
	return newRobotsCache(cfg, newClient(cfg, guard), c.backoff, nil)
}

// robotsOutcome fetches authority's robots.txt through the cache and returns
// the verdict for /private afterwards.
func robotsOutcome(t *testing.T, cache *robotsCache, authority string) (robotsResult, robotsVerdict) {
	t.Helper()
	ctx := context.Background()
	if v, _, err := cache.verdict(ctx, authority, "/private"); err != nil || v != robotsFetchNow {
		t.Fatalf("first verdict: %v %v, want a fetch", v, err)
	}
	res := cache.fetch(ctx, authority)
	v, _, err := cache.verdict(ctx, authority, "/private")
	if err != nil {
		t.Fatal(err)
	}
	return res, v
}

func TestRobotsCache_Statuses(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		want    robotsVerdict
		wantErr bool
	}{
		{"200 rules apply", http.StatusOK, robotsDisallowed, false},
		{"404 allows all", http.StatusNotFound, robotsAllowed, false},
		{"401 allows all", http.StatusUnauthorized, robotsAllowed, false},
		{"403 allows all", http.StatusForbidden, robotsAllowed, false},
		{"410 allows all", http.StatusGone, robotsAllowed, false},
		{"429 is unavailable", http.StatusTooManyRequests, robotsUnavailable, true},
		{"500 is unavailable", http.StatusInternalServerError, robotsUnavailable, true},
		{"503 is unavailable", http.StatusServiceUnavailable, robotsUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, "User-agent: *\nDisallow: /private\n")
			}))
			res, v := robotsOutcome(t, newTestRobotsCache(t), base)
			if v != tt.want || (res.err != nil) != tt.wantErr {
				t.Errorf("verdict %v, err %v; want verdict %v, error %v", v, res.err, tt.want, tt.wantErr)
			}
		})
	}
	t.Run("unreachable is unavailable", func(t *testing.T) {
		site := startSite(t, testsite.Config{})
		authority := "http://" + site.Hosts()[0]
		site.Close()
		res, v := robotsOutcome(t, newTestRobotsCache(t), authority)
		if v != robotsUnavailable || res.err == nil || !res.retryAt.After(time.Now()) {
			t.Errorf("verdict %v, err %v, retry at %v; want unavailable until later", v, res.err, res.retryAt)
		}
	})
}

func TestRobotsCache_GivesUpAfter30DaysOfFailures(t *testing.T) {
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	cache := newTestRobotsCache(t)
	if _, v := robotsOutcome(t, cache, base); v != robotsUnavailable {
		t.Fatalf("after one failure: %v, want unavailable", v)
	}
	// Pretend the failures started 30 days ago and the back-off has passed.
	cache.mu.Lock()
	e := cache.entries[base]
	e.failingSince = time.Now().Add(-robotsGiveUp)
	e.expires = time.Now()
	cache.mu.Unlock()
	res, v := robotsOutcome(t, cache, base)
	if v != robotsAllowed || res.err != nil {
		t.Errorf("after 30 days of 5xx: verdict %v, err %v; want no robots.txt (allowed)", v, res.err)
	}
}

func TestCrawl_RobotsTTLRefetches(t *testing.T) {
	var robotsFetches atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			robotsFetches.Add(1)
			fmt.Fprint(w, "User-agent: *\nAllow: /\n")
			return
		}
		var n int
		fmt.Sscanf(r.URL.Path, "/%d", &n)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="/%d">next</a>`, n+1)
	})
	base := serve(t, "127.0.0.2", handler)
	cfg := testConfig(base + "/0")
	cfg.Rate = 10
	cfg.RobotsTTL = 150 * time.Millisecond
	cfg.MaxPages = 6
	sink := mustCrawl(t, cfg)
	if n := len(sink.records()); n != 6 {
		t.Errorf("records: got %d, want 6", n)
	}
	// Each robots.txt fetch and each page take a 100 ms slot; with a 150 ms
	// TTL, the rules expire every two or three requests.
	if n := robotsFetches.Load(); n < 3 {
		t.Errorf("robots.txt fetched %d times in ~1 s with a 150 ms TTL, want >= 3", n)
	}
}

// mapShare is a RobotsStore in memory, as two crawlers in one process would
// share it.
type mapShare struct {
	mu      sync.Mutex
	data    map[string][]byte
	expires map[string]time.Time
}

func newMapShare() *mapShare {
	return &mapShare{data: map[string][]byte{}, expires: map[string]time.Time{}}
}

func (m *mapShare) LoadRobots(_ context.Context, authority string) ([]byte, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ttl := time.Until(m.expires[authority])
	if ttl <= 0 {
		return nil, 0, nil
	}
	return m.data[authority], ttl, nil
}

func (m *mapShare) SaveRobots(_ context.Context, authority string, data []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[authority], m.expires[authority] = data, time.Now().Add(ttl)
	return nil
}

func TestRobotsCache_SharedOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		want    robotsVerdict
		wantErr bool
	}{
		{"200 rules", http.StatusOK, robotsDisallowed, false},
		{"404 allows all", http.StatusNotFound, robotsAllowed, false},
		{"503 unavailable", http.StatusServiceUnavailable, robotsUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, "User-agent: *\nDisallow: /private\nCrawl-delay: 2\n")
			}))
			share := newMapShare()
			first, second := newTestRobotsCache(t), newTestRobotsCache(t)
			first.share, second.share = share, share

			res, v := robotsOutcome(t, first, base)
			if res.shared || v != tt.want {
				t.Fatalf("first node: shared %v, verdict %v; want a fetch and %v", res.shared, v, tt.want)
			}
			if err := first.publish(context.Background(), base, res); err != nil {
				t.Fatal(err)
			}
			res, v = robotsOutcome(t, second, base)
			if !res.shared || v != tt.want || (res.err != nil) != tt.wantErr {
				t.Errorf("second node: shared %v, verdict %v, err %v; want the first node's outcome (%v, error %v)", res.shared, v, res.err, tt.want, tt.wantErr)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("robots.txt requested %d times by two nodes sharing it, want 1", n)
			}
			if tt.status == http.StatusOK && res.rules.CrawlDelay() != 2*time.Second {
				t.Errorf("shared rules' Crawl-delay %v, want 2s", res.rules.CrawlDelay())
			}
			if tt.wantErr {
				second.mu.Lock()
				failures := second.entries[base].failures
				second.mu.Unlock()
				if failures != 1 || !res.retryAt.After(time.Now()) {
					t.Errorf("shared failure: %d failures, retry at %v; want the first node's 1 failure and a later retry", failures, res.retryAt)
				}
			}
		})
	}
}

func TestRobotsCache_SharedOutcomeIgnoredWhenUnusable(t *testing.T) {
	var requests atomic.Int32
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "User-agent: *\nDisallow: /private\n")
	}))
	for name, save := range map[string]func(*mapShare){
		"garbage":      func(m *mapShare) { _ = m.SaveRobots(context.Background(), base, []byte("x"), time.Hour) },
		"unknown kind": func(m *mapShare) { _ = m.SaveRobots(context.Background(), base, []byte("z 0 0\n"), time.Hour) },
	} {
		t.Run(name, func(t *testing.T) {
			before := requests.Load()
			share := newMapShare()
			save(share)
			cache := newTestRobotsCache(t)
			cache.share = share
			res, v := robotsOutcome(t, cache, base)
			if res.shared || v != robotsDisallowed || requests.Load() != before+1 {
				t.Errorf("shared %v, verdict %v, %d requests; want robots.txt fetched and obeyed", res.shared, v, requests.Load()-before)
			}
		})
	}
}

func TestSharedRobots_RoundTrip(t *testing.T) {
	since := time.UnixMilli(time.Now().UnixMilli())
	for _, sr := range []sharedRobots{
		{outcome: sharedRules, body: []byte("User-agent: *\nDisallow: /x\n")},
		{outcome: sharedAllowAll},
		{outcome: sharedUnavailable, failures: 3, failingSince: since},
	} {
		got, ok := decodeSharedRobots(sr.encode())
		if !ok || got.outcome != sr.outcome || got.failures != sr.failures || !got.failingSince.Equal(sr.failingSince) || string(got.body) != string(sr.body) {
			t.Errorf("round trip of %+v gave %+v (ok %v)", sr, got, ok)
		}
	}
}

func TestCrawl_RobotsUnavailableThenRecovers(t *testing.T) {
	var mu sync.Mutex
	robotsCalls := 0
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			mu.Lock()
			robotsCalls++
			n := robotsCalls
			mu.Unlock()
			if n <= 2 {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, "User-agent: *\nDisallow: /private\n")
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="/a">a</a><a href="/private">p</a>`)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "page")
		}
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/")
	fastRetries(&cfg)
	sink := mustCrawl(t, cfg)

	paths := log.paths()
	want := []string{"/robots.txt", "/robots.txt", "/robots.txt"}
	if len(paths) < 3 || !slices.Equal(paths[:3], want) {
		t.Fatalf("first requests: got %q, want robots.txt three times before any page", paths)
	}
	if n := len(log.times("/a")); n != 1 {
		t.Errorf("/a requested %d times once robots.txt recovered, want 1", n)
	}
	if n := len(log.times("/private")); n != 0 {
		t.Errorf("/private requested %d times, want 0 (disallowed)", n)
	}
	recs := sink.byURL(t)
	if rec := recs[base+"/private"]; rec.Error != "robots: disallowed" {
		t.Errorf("record of /private: %+v", rec)
	}
	if len(recs) != 3 {
		t.Errorf("records: got %d, want 3", len(recs))
	}
}

func TestCrawl_RobotsRedirectsAndSizeCap(t *testing.T) {
	filler := strings.Repeat("# filler line to push the next rule past 500 KiB\n", 600<<10/50)
	tests := []struct {
		name         string
		handler      func(w http.ResponseWriter, r *http.Request)
		allowed      []string
		disallowed   []string
		robotsFetchs int
	}{
		{
			name: "redirect followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/robots.txt":
					http.Redirect(w, r, "/moved/robots.txt", http.StatusMovedPermanently)
				case "/moved/robots.txt":
					fmt.Fprint(w, "User-agent: crawld-test\nDisallow: /early\n")
				}
			},
			allowed:    []string{"/late"},
			disallowed: []string{"/early"},
		},
		{
			name: "more than five redirects mean no robots.txt",
			handler: func(w http.ResponseWriter, r *http.Request) {
				var n int
				fmt.Sscanf(r.URL.Path, "/r%d", &n)
				http.Redirect(w, r, fmt.Sprintf("/r%d", n+1), http.StatusFound)
			},
			allowed: []string{"/early", "/late"},
		},
		{
			name: "only the first 500 KiB are read",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "User-agent: *\nDisallow: /early\n"+filler+"Disallow: /late\n")
			},
			allowed:    []string{"/late"},
			disallowed: []string{"/early"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log timedLog
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/" {
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, `<a href="/early">e</a><a href="/late">l</a>`)
					return
				}
				if r.URL.Path == "/early" || r.URL.Path == "/late" {
					fmt.Fprint(w, "page")
					return
				}
				tt.handler(w, r)
			})
			base := serve(t, "127.0.0.2", log.wrap(handler))
			mustCrawl(t, testConfig(base+"/"))
			for _, p := range tt.allowed {
				if n := len(log.times(p)); n != 1 {
					t.Errorf("%s requested %d times, want 1", p, n)
				}
			}
			for _, p := range tt.disallowed {
				if n := len(log.times(p)); n != 0 {
					t.Errorf("%s requested %d times, want 0", p, n)
				}
			}
		})
	}
}

func TestCrawl_RobotsMetaAndHeaders(t *testing.T) {
	var log timedLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<a href="/meta-nofollow">1</a><a href="/header">2</a><a href="/skip" rel="nofollow">3</a><a href="/other-bot">4</a>`)
		case "/meta-nofollow":
			fmt.Fprint(w, `<meta name="robots" content="noindex, nofollow"><a href="/behind-meta">x</a>`)
		case "/header":
			w.Header().Set("X-Robots-Tag", "crawld-test: nofollow")
			w.Header().Add("X-Robots-Tag", "noindex")
			fmt.Fprint(w, `<a href="/behind-header">x</a>`)
		case "/other-bot":
			w.Header().Set("X-Robots-Tag", "otherbot: nofollow")
			fmt.Fprint(w, `<meta name="otherbot" content="nofollow"><a href="/followed">x</a>`)
		default:
			fmt.Fprint(w, "leaf")
		}
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	recs := mustCrawl(t, testConfig(base+"/")).byURL(t)
	for _, p := range []string{"/behind-meta", "/behind-header", "/skip"} {
		if n := len(log.times(p)); n != 0 {
			t.Errorf("%s requested %d times, want 0", p, n)
		}
	}
	if n := len(log.times("/followed")); n != 1 {
		t.Errorf("/followed (directives for another crawler) requested %d times, want 1", n)
	}
	if rec := recs[base+"/meta-nofollow"]; !rec.Noindex || !rec.Nofollow {
		t.Errorf("meta robots record: %+v", rec)
	}
	if rec := recs[base+"/header"]; !rec.Noindex || !rec.Nofollow {
		t.Errorf("X-Robots-Tag record: %+v", rec)
	}
	if rec := recs[base+"/other-bot"]; rec.Noindex || rec.Nofollow {
		t.Errorf("record of a page with directives for another crawler: %+v", rec)
	}

	cfg := testConfig(base + "/")
	cfg.FollowNofollow = true
	mustCrawl(t, cfg)
	if n := len(log.times("/skip")); n != 1 {
		t.Errorf("with follow_nofollow, /skip requested %d times, want 1", n)
	}
}
