package main

import (
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

func TestRowForFrontier(t *testing.T) {
	var sc scenario
	for _, s := range scenarios() {
		if s.name == "frontier" {
			sc = s
		}
	}
	res := result{pages: 2_002_525, wall: 100e9, cpu: 150e9, peakRSS: 400 << 20, noLog: true,
		frontier: &frontierPeak{queued: 1_999_000, spilled: 700_000, diskBytes: 50 << 20}}
	row := res.row(sc, false, nil)
	for _, want := range []string{"| frontier | 2002525 |", "400.0 (goal < 512)", "1999000 (700000; 50.0)", "| – | – | – |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if got, want := strings.Count(row, "|"), 13; got != want {
		t.Errorf("row has %d separators, want %d (12 columns)", got, want)
	}
}

func TestClusterRow(t *testing.T) {
	byName := scenarioByName(t)
	header, rule := tableHeader(true)
	cols := strings.Count(header, "|")
	if strings.Count(rule, "|") != cols {
		t.Errorf("rule %q does not match the header's %d separators", rule, cols)
	}
	if narrow, _ := tableHeader(false); strings.Count(narrow, "|") != 13 {
		t.Errorf("the default table changed: %q", narrow)
	}
	results := map[string]result{
		"cluster-capacity-1": {pages: 6000, wall: 80 * time.Second},
	}
	three := result{pages: 6000, wall: 30 * time.Second, cpu: 12 * time.Second, peakRSS: 40 << 20, rssSum: 110 << 20,
		perNode: []int{2001, 1999, 2000}, redis: &redisUsage{cpu: 3 * time.Second, commands: 90000, scripts: 42000},
		gaps: requestGaps{closest: 101500 * time.Microsecond, first: testsite.Request{Host: "a"}}}
	sc := byName["cluster-capacity-3"]
	row := three.row(sc, true, results)
	if got := strings.Count(row, "|"); got != cols {
		t.Errorf("row has %d separators, header %d: %s", got, cols, row)
	}
	for _, want := range []string{"| cluster-capacity-3 | 6000 |", "| 200 |", "| 40.0 (Σ 110.0) |", "| 3 on Redis (2001/1999/2000) |",
		"| 101.5 (80) |", "| 3.00 (0.500) |", "| 15.0 (7.0) |", "pages/s ÷ cluster-capacity-1 2.667 (goal ≥ 2.7: MISSED) |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	three.wall = 29 * time.Second
	results["cluster-capacity-3"] = three
	if row := three.row(sc, true, results); !strings.Contains(row, "2.759 (goal ≥ 2.7: met)") {
		t.Errorf("row %q: goal not met", row)
	}

	// A baseline that was not run, and one compared for information.
	red := byName["cluster-throughput-redis-1"]
	redRes := result{pages: 20000, wall: 10 * time.Second, perNode: []int{20000}, redis: &redisUsage{}}
	if row := redRes.row(red, true, map[string]result{"throughput-pebble": {pages: 20000, wall: 5 * time.Second}}); !strings.Contains(row,
		"pages/s ÷ throughput: not run; pages/s ÷ throughput-pebble 0.500 |") {
		t.Errorf("row %q", row)
	}
	local := result{pages: 6000, wall: 80 * time.Second}
	if row := local.row(byName["cluster-capacity-pebble"], true, nil); !strings.Contains(row, "| 1 (pebble) | – | – | – | – |") {
		t.Errorf("pebble row %q", row)
	}

	pol := byName["cluster-politeness-3"]
	polRes := result{pages: 2000, wall: 13 * time.Second, healthyDone: 13 * time.Second, bound: 12500 * time.Millisecond, boundWithout: 12500 * time.Millisecond}
	results["cluster-politeness-3"] = polRes
	results["cluster-politeness-1"] = polRes
	summary := goalSummary([]scenario{pol, sc, red}, results)
	for _, want := range []string{"cluster-politeness-3: done/bound 1.040 (goal ≤ 1.05: met); pages/s ÷ cluster-politeness-1 1.000",
		"cluster-capacity-3: pages/s ÷ cluster-capacity-1 2.759 (goal ≥ 2.7: met)",
		"cluster-throughput-redis-1: pages/s ÷ throughput: not run"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary %q lacks %q", summary, want)
		}
	}
}
