// The scenario table: what each benchmark crawl is (its site, crawld flags,
// rate and goals), the sites several scenarios share, and which scenarios
// a -scenario name runs.

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// scenario is one benchmark crawl.
type scenario struct {
	name    string
	durable bool // keep the crawl's state in the embedded store
	warc    bool // archive the crawl as WARC files (warc.dir)
	site    testsite.Config
	rate    float64
	burst   int
	args    []string // crawld flags beyond seeds, domains, rate and burst
	bound   bool     // compare the wall time with the simulated lower bound
	// onRequest leaves the scenario out of the default run, for crawls that
	// take minutes; -scenario still runs it.
	onRequest bool
	// maxRSS, when set, is the peak RSS crawld must stay under: the
	// scenario exists to show that bound, so exceeding it fails the run.
	maxRSS int64
	// nodes, when positive, runs that many crawld processes on one crawl
	// shared in a private redis-server (measureCluster).
	nodes int
	// strict fails the run on a politeness violation in the site's log
	// (see result.violations).
	strict bool
	// goal is the ratio the scenario is judged by, if any.
	goal *goal
	// groups are the -scenario names besides its own that run it.
	groups []string
	// hostile, when set, measures the scenario on a site of crawlbench's
	// own (hostile.go) instead of site; only crawld's peak RSS matters.
	hostile func(ctx context.Context, binary string) (result, error)
}

// goal is a ratio a scenario should reach. Missing it is reported, not a
// failure: it is a measurement, where a politeness violation is a bug.
type goal struct {
	// of is the scenario whose pages/s this one's is divided by; "" for
	// the scenario's own done/bound.
	of       string
	min, max float64  // the bounds the ratio must stay within; 0 for none
	also     []string // scenarios whose pages/s are compared too, for information
}

// groupCluster is the -scenario name of the scale-out scenarios.
const groupCluster = "cluster"

// groupWARC is the -scenario name of the throughput scenarios with and
// without the WARC archive.
const groupWARC = "warc"

// The sites of the scenarios that share them.
var (
	politenessSite = testsite.Config{Hosts: 50, PagesPerHost: 40, Latency: 50 * time.Millisecond, Seed: 1}
	throughputSite = testsite.Config{Hosts: 1, PagesPerHost: 20000, Seed: 1}
	// capacitySite has enough hosts that --rate 10 allows 2,000 pages/s,
	// far above what 3 nodes of 8 workers fetch at 100 ms a page (240).
	capacitySite = testsite.Config{Hosts: 200, PagesPerHost: 30, Latency: 100 * time.Millisecond, Seed: 1}
	// cpuSite is CPU-bound (scale-out design T4): pages of about 300 KB
	// (290,000 bytes of padding after some 11 KB of links) with 200 links
	// each (the chain link, 190 random ones on the host and 9 across hosts)
	// and no latency, so reading and parsing the pages binds, and nearly
	// every link is a page already seen.
	// fanoutSite brings many new links per page, as the first pages of a
	// large site do: 10 hosts, each a home page linking 20 hubs of 100
	// leaves (20,210 pages).
	fanoutSite = testsite.Config{Hosts: 10, Hubs: 20, LeavesPerHub: 100, Seed: 1}
	cpuSite    = testsite.Config{Hosts: 6, PagesPerHost: 500, LinksPerPage: 190, CrossLinks: 9, Padding: 290_000, Seed: 1}
)

// frontierSite is the fan-out site of the frontier scenarios: 25 × 100 ×
// 800 = 2,000,000 leaves. Many hosts of moderate size keep every host under
// crawld's default max_pages_per_host (80,101 pages) and every hub under
// its default max_links_per_page (800 links), so the scenarios measure the
// frontier with the defaults a user would run, and 16 requests in flight
// per host still keep 64 workers busy. The site is count-only: its request
// log would take more memory than the crawl it measures.
var frontierSite = testsite.Config{Hosts: 25, Hubs: 100, LeavesPerHub: 800, Seed: 1, CountOnly: true}

// frontierArgs are the crawld flags of the frontier scenarios; only the
// memory limit differs between them.
func frontierArgs(limit string) []string {
	return []string{"--workers", "64", "--per-host-concurrency", "16", "--frontier-memory-limit", limit}
}

func scenarios() []scenario {
	return append([]scenario{
		{
			name:  "politeness",
			site:  politenessSite,
			rate:  4,
			burst: 1,
			args:  []string{"--workers", "32"},
			bound: true,
		},
		{
			name:  "politeness-503",
			site:  testsite.Config{Hosts: 50, PagesPerHost: 40, Latency: 50 * time.Millisecond, Seed: 1, Unavailable: []int{49}},
			rate:  4,
			burst: 1,
			args:  []string{"--workers", "32"},
			bound: true,
		},
		{
			name:   "throughput",
			site:   throughputSite,
			rate:   0,
			burst:  1,
			args:   throughputArgs(),
			groups: []string{groupCluster, groupWARC},
		},
		{
			name:    "throughput-pebble",
			site:    throughputSite,
			rate:    0,
			burst:   1,
			args:    throughputArgs(),
			durable: true,
			groups:  []string{groupCluster, groupWARC},
		},
		// Archiving costs at most a tenth of the pages/s (issue 14).
		{
			name:   "throughput-warc",
			site:   throughputSite,
			rate:   0,
			burst:  1,
			args:   throughputArgs(),
			warc:   true,
			goal:   &goal{of: "throughput", min: 0.9},
			groups: []string{groupWARC},
		},
		{
			name:    "throughput-pebble-warc",
			site:    throughputSite,
			rate:    0,
			burst:   1,
			args:    throughputArgs(),
			durable: true,
			warc:    true,
			goal:    &goal{of: "throughput-pebble", min: 0.9},
			groups:  []string{groupWARC},
		},
		{
			name:      "frontier",
			site:      frontierSite,
			rate:      0,
			burst:     1,
			args:      frontierArgs("256MiB"),
			onRequest: true,
			maxRSS:    512 << 20,
		},
		{
			name:      "frontier-unbounded",
			site:      frontierSite,
			rate:      0,
			burst:     1,
			args:      frontierArgs("0"),
			onRequest: true,
		},
	}, clusterScenarios()...)
}

// throughputArgs are the crawld flags of the throughput scenarios.
func throughputArgs() []string {
	return []string{"--workers", "64", "--per-host-concurrency", "64"}
}

// cpuArgs are the crawld flags of the CPU-bound scenarios: on 2 cores, 16
// workers keep both busy while a page is in flight, and 16 requests in
// flight per host let any host take them all, so politeness is not the bound.
func cpuArgs() []string {
	return []string{"--workers", "16", "--per-host-concurrency", "16"}
}

// clusterScenarios are the scale-out scenarios, in the order they run: a
// ratio's baseline before the scenario judged by it.
func clusterScenarios() []scenario {
	politeness := func(nodes int, g *goal) scenario {
		name := fmt.Sprintf("cluster-politeness-%d", nodes)
		if nodes == 0 {
			name = "cluster-politeness-local"
		}
		return scenario{name: name, site: politenessSite, rate: 4, burst: 1,
			args: []string{"--workers", "32"}, bound: true, nodes: nodes, goal: g}
	}
	capacity := func(name string, nodes int, durable bool, g *goal) scenario {
		return scenario{name: name, site: capacitySite, rate: 10, burst: 1, args: []string{"--workers", "8"},
			bound: true, nodes: nodes, durable: durable, goal: g}
	}
	all := []scenario{
		politeness(0, nil),
		politeness(1, nil),
		politeness(3, &goal{max: 1.05, also: []string{"cluster-politeness-1", "cluster-politeness-local"}}),
		capacity("cluster-capacity-local", 0, false, nil),
		capacity("cluster-capacity-pebble", 0, true, nil),
		capacity("cluster-capacity-1", 1, false, &goal{of: "cluster-capacity-local", also: []string{"cluster-capacity-pebble"}}),
		capacity("cluster-capacity-3", 3, false, &goal{of: "cluster-capacity-1", min: 2.7}),
		{name: "cluster-throughput-redis-1", site: throughputSite, rate: 0, burst: 1, args: throughputArgs(), nodes: 1,
			goal: &goal{of: "throughput", min: 0.8, also: []string{"throughput-pebble"}}},
		{name: "cluster-fanout-local", site: fanoutSite, rate: 0, burst: 1, args: throughputArgs()},
		{name: "cluster-fanout-redis-1", site: fanoutSite, rate: 0, burst: 1, args: throughputArgs(), nodes: 1,
			goal: &goal{of: "cluster-fanout-local", min: 0.8}},
		{name: "cluster-cpu-local", site: cpuSite, rate: 0, burst: 1, args: cpuArgs()},
		{name: "cluster-cpu-redis-1", site: cpuSite, rate: 0, burst: 1, args: cpuArgs(), nodes: 1,
			goal: &goal{of: "cluster-cpu-local", min: 0.8}},
	}
	for i := range all {
		all[i].onRequest, all[i].groups = true, []string{groupCluster}
		all[i].strict = all[i].rate > 0
	}
	return all
}

// hostileScenarios are the crawls of crawlbench's hostile sites, which run
// first; their records are not checked.
func hostileScenarios() []scenario {
	return []scenario{
		{name: "hostile", hostile: measureHostile},
		{name: "hostile-tiny", hostile: measureHostileTiny},
	}
}

// scenarioNames lists every scenario -scenario accepts.
func scenarioNames() []string {
	var names []string
	for _, sc := range hostileScenarios() {
		names = append(names, sc.name)
	}
	names = append(names, scenarioStall)
	var groups []string
	for _, sc := range scenarios() {
		names = append(names, sc.name)
		for _, g := range sc.groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return append(names, groups...)
}

// selected reports whether -scenario only runs sc: with no name, every
// scenario but the on-request ones; else the scenario so named or the
// scenarios of the group so named.
func selected(sc scenario, only string) bool {
	if only == "" {
		return !sc.onRequest
	}
	return only == sc.name || slices.Contains(sc.groups, only)
}
