package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

func TestGapsOf(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []testsite.Request{
		{Host: "a", Path: "/robots.txt", At: at(0)},
		{Host: "b", Path: "/", At: at(10)},
		{Host: "a", Path: "/", At: at(265)}, // late: the next gap is short
		{Host: "a", Path: "/1", At: at(490)},
		{Host: "b", Path: "/1", At: at(231)},
		{Host: "a", Path: "/2", At: at(750)},
	}
	g := gapsOf(reqs, 250*time.Millisecond)
	if g.closest != 221*time.Millisecond || g.first.Path != "/" || g.second.Path != "/1" || g.first.Host != "b" {
		t.Errorf("closest %v between %+v and %+v; want 221ms on b", g.closest, g.first, g.second)
	}
	// a: 265, 225, 260; b: 221. Two under 250-gapSlack = 230.
	if g.under != 2 {
		t.Errorf("under %d, want 2", g.under)
	}
	if g := gapsOf(reqs, 0); g.under != 0 || g.closest != 221*time.Millisecond {
		t.Errorf("without a rate: %+v", g)
	}
	if g := gapsOf(reqs[:2], 250*time.Millisecond); g.first.Host != "" {
		t.Errorf("one request a host: %+v", g)
	}
	early := append(slices.Clone(reqs), testsite.Request{Host: "a", Path: "/3", At: at(760)})
	if g := gapsOf(early, 250*time.Millisecond); g.under != 3 || g.closest != 10*time.Millisecond || g.second.Path != "/3" {
		t.Errorf("an early request: %+v", g)
	}
}

func TestViolations(t *testing.T) {
	sc := scenarioByName(t)["cluster-politeness-3"]
	clean := result{busiest: 5, gaps: requestGaps{closest: 249 * time.Millisecond, first: testsite.Request{Host: "a"}}}
	if v := clean.violations(sc); v != nil {
		t.Errorf("clean crawl: %v", v)
	}
	bad := clean
	bad.busiest = 6
	bad.gaps.under, bad.gaps.closest = 2, 200*time.Millisecond
	if v := bad.violations(sc); len(v) != 2 || !strings.Contains(v[0], "6 requests within 1 s") || !strings.Contains(v[1], "2 times") {
		t.Errorf("violations %q", v)
	}
	if v := bad.violations(scenarioByName(t)["politeness"]); v != nil {
		t.Errorf("a scenario that is not strict: %v", v)
	}
	if v := bad.violations(scenarioByName(t)["cluster-throughput-redis-1"]); v != nil {
		t.Errorf("a scenario without a rate: %v", v)
	}
}
