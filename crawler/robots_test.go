package crawler

import (
	"context"
	"fmt"
	"net/http"
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
