package crawler

import (
	"context"
	"fmt"
	"net/http"
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
	return newRobotsCache(cfg, newClient(cfg, guard), c.backoff)
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
