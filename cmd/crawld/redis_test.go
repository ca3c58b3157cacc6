package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
)

// node is one crawld process of a shared crawl.
type node struct {
	id     string
	out    string
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// startNodes starts n `crawld crawl` processes (the test binary re-executed
// as crawld) on one shared crawl in r, each writing its own JSONL.
func startNodes(t *testing.T, n int, r *redistest.Server, site *testsite.Site, args ...string) []*node {
	t.Helper()
	return startNodesAt(t, n, r, site.SeedURL(), domainFlags(site), args...)
}

// startNodesAt is startNodes for any site: seed, and the flags allowing
// its domains.
func startNodesAt(t *testing.T, n int, r *redistest.Server, seed string, domains []string, args ...string) []*node {
	t.Helper()
	dir := t.TempDir()
	nodes := make([]*node, n)
	for i := range nodes {
		nd := &node{id: "n" + string(rune('1'+i)), out: filepath.Join(dir, "out"+string(rune('1'+i))+".jsonl")}
		all := append([]string{"crawl", "--seed", seed, "--allow-cidr", "127.0.0.0/8", "--log-level", "warn",
			"--storage", "redis", "--redis-url", r.URL, "--redis-crawl-id", "t", "--node-id", nd.id, "--output", nd.out}, domains...)
		nd.cmd = exec.Command(os.Args[0], append(all, args...)...)
		nd.cmd.Env = append(os.Environ(), "CRAWLD_TEST_AS_BINARY=1")
		nd.cmd.Stderr = &nd.stderr
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			if nd.cmd.ProcessState == nil {
				_ = nd.cmd.Process.Kill()
				_ = nd.cmd.Wait()
			}
		}
	})
	return nodes
}

// waitNodes waits for every node to exit, each within limit, and fails
// unless all exit 0.
func waitNodes(t *testing.T, nodes []*node, limit time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Go(func() {
			timer := time.AfterFunc(limit, func() { _ = nd.cmd.Process.Kill() })
			defer timer.Stop()
			if err := nd.cmd.Wait(); err != nil {
				t.Errorf("node %s: %v; stderr:\n%s", nd.id, err, nd.stderr.String())
			}
		})
	}
	wg.Wait()
}

// pagesByNode reads every node's records: URL → the nodes that recorded it.
func pagesByNode(t *testing.T, nodes []*node) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, nd := range nodes {
		data, err := os.ReadFile(nd.out)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range readRecords(t, data) {
			if rec["node"] != nd.id {
				t.Errorf("node %s wrote a record with node %v", nd.id, rec["node"])
			}
			if rec["status"] != float64(200) {
				t.Errorf("record %v, want status 200", rec)
			}
			got[rec["url"].(string)] = append(got[rec["url"].(string)], nd.id)
		}
	}
	return got
}

// pageRequests counts the site's requests for each page (host and path),
// robots.txt left out.
func pageRequests(site *testsite.Site) map[string]int {
	n := map[string]int{}
	for _, req := range site.Requests() {
		if req.Path != "/robots.txt" {
			n[req.Host+req.Path]++
		}
	}
	return n
}

// servedPages is how many page requests the site has answered so far.
func servedPages(site *testsite.Site) int {
	n := 0
	for _, c := range pageRequests(site) {
		n += c
	}
	return n
}

// refetches is how many page requests repeated an earlier one.
func refetches(fetched map[string]int) int {
	n := 0
	for _, c := range fetched {
		n += c - 1
	}
	return n
}

// waitUntil polls cond, which reads state that has no notification (the
// site's log, Redis), until it holds, failing after 30 s with what.
func waitUntil(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShared_ThreeNodesOneCrawl runs three crawld processes on one crawl in
// Redis against a rate-limited multi-host site and judges by the site's own
// log: every page fetched once, by some node, each node doing part of the
// work, and no host ever paced faster than its rate across the cluster.
func TestShared_ThreeNodesOneCrawl(t *testing.T) {
	r := redistest.Start(t)
	const hosts, pages, rate = 6, 15, 5.0
	site := startSite(t, testsite.Config{Hosts: hosts, PagesPerHost: pages, Latency: 20 * time.Millisecond})
	nodes := startNodes(t, 3, r, site, "--rate", "5", "--burst", "1", "--workers", "4")
	waitNodes(t, nodes, 60*time.Second)

	got := pagesByNode(t, nodes)
	perNode := map[string]int{}
	for u, by := range got {
		if len(by) != 1 {
			t.Errorf("%s recorded by %v, want one node", u, by)
		}
		perNode[by[0]]++
	}
	if len(got) != hosts*pages {
		t.Errorf("%d pages recorded, want %d", len(got), hosts*pages)
	}
	for _, nd := range nodes {
		if perNode[nd.id] == 0 {
			t.Errorf("node %s recorded nothing (per node: %v)", nd.id, perNode)
		}
	}

	byHost := map[string][]time.Time{}
	for _, req := range site.Requests() {
		byHost[req.Host] = append(byHost[req.Host], req.At)
	}
	for p, n := range pageRequests(site) {
		if n != 1 {
			t.Errorf("%s requested %d times, want once", p, n)
		}
	}
	// Rate 5, burst 1: starts at least 200 ms apart, robots.txt included
	// (it is fetched with a slot the host's clock granted). The site sees
	// arrivals, which lag the claims on Redis's clock by a time that varies
	// with the machine's load (130–176 ms between arrivals were seen on a
	// busy machine): PaceViolation allows one interval of it, once. Three
	// nodes pacing a host each on their own would put 3 requests in every
	// interval.
	interval := time.Duration(float64(time.Second) / rate)
	for h, ats := range byHost {
		if v := testsite.PaceViolation(ats, interval, interval); v != "" {
			t.Errorf("host %s: %s (rate %v across all nodes)", h, v, rate)
		}
	}
	t.Logf("pages per node: %v", perNode)
}

// TestShared_RobotsFetchedOnce has three nodes crawl hosts whose robots.txt
// disallows part of each: the node that fetches a host's robots.txt shares
// the rules through Redis, so each robots.txt is requested once in all, and
// the nodes that did not fetch it obey it all the same.
func TestShared_RobotsFetchedOnce(t *testing.T) {
	r := redistest.Start(t)
	const hosts = 6
	site := startSite(t, testsite.Config{Hosts: hosts, PagesPerHost: 15, Robots: "User-agent: *\nDisallow: /page/1\n"})
	nodes := startNodes(t, 3, r, site, "--rate", "5", "--burst", "1", "--workers", "4")
	waitNodes(t, nodes, 60*time.Second)

	robotsTxt := map[string]int{}
	for _, req := range site.Requests() {
		if req.Path == "/robots.txt" {
			robotsTxt[req.Host]++
		} else if strings.HasPrefix(req.Path, "/page/1") {
			t.Errorf("%s%s requested, which robots.txt disallows", req.Host, req.Path)
		}
	}
	for _, h := range site.Hosts() {
		if robotsTxt[h] != 1 {
			t.Errorf("%s/robots.txt requested %d times by 3 nodes, want once", h, robotsTxt[h])
		}
	}
	denied := map[string]int{}
	for _, nd := range nodes {
		data, err := os.ReadFile(nd.out)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range readRecords(t, data) {
			if e, _ := rec["error"].(string); strings.Contains(e, "robots") {
				denied[nd.id]++
			}
		}
	}
	if len(denied) < 2 {
		t.Errorf("robots denials per node %v; want the rules applied by more than the node that fetched them", denied)
	}
	t.Logf("robots denials per node: %v", denied)
}

// TestShared_CrawlDelayAndRetryAfter has three nodes crawl a site whose
// robots.txt asks for a Crawl-delay of 1 s, and one of whose hosts answers
// everything with 503 and Retry-After 2: across all nodes, requests to a
// host come at least the delay apart, and the failing host is asked again
// only once its Retry-After has passed.
func TestShared_CrawlDelayAndRetryAfter(t *testing.T) {
	r := redistest.Start(t)
	const retryAfter = 2 * time.Second
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 5, Robots: "User-agent: *\nCrawl-delay: 1\n",
		Unavailable: []int{2}, RetryAfter: retryAfter})
	nodes := startNodes(t, 3, r, site, "--rate", "0", "--workers", "3", "--max-host-failures", "2")
	waitNodes(t, nodes, 60*time.Second)

	failing := site.Hosts()[2]
	byHost := map[string][]time.Time{}
	for _, req := range site.Requests() {
		byHost[req.Host] = append(byHost[req.Host], req.At)
	}
	for h, ats := range byHost {
		if len(ats) < 2 {
			t.Errorf("host %s: %d requests, want several", h, len(ats))
		}
		if h == failing {
			// Each Retry-After counts from a node's reading of the 503,
			// after the site saw the request: load only lengthens these
			// gaps. 20 ms: the host's ready time is on Redis's clock.
			sort.Slice(ats, func(i, j int) bool { return ats[i].Before(ats[j]) })
			for i := 1; i < len(ats); i++ {
				if gap := ats[i].Sub(ats[i-1]); gap < retryAfter-20*time.Millisecond {
					t.Errorf("host %s: requests %v apart, want ≥ %v (Retry-After) across all nodes", h, gap, retryAfter)
				}
			}
			continue
		}
		// Crawl-delay, robots.txt request included: paced by claims on
		// Redis's clock, whose requests arrive with a lag that varies
		// with load, as in TestShared_ThreeNodesOneCrawl.
		if v := testsite.PaceViolation(ats, time.Second, time.Second); v != "" {
			t.Errorf("host %s: %s (Crawl-delay 1 s across all nodes)", h, v)
		}
	}
	healthy := 0
	for p, n := range pageRequests(site) {
		if !strings.HasPrefix(p, failing+"/") {
			healthy++
			if n != 1 {
				t.Errorf("%s requested %d times, want once", p, n)
			}
		}
	}
	if healthy != 10 {
		t.Errorf("%d pages of the healthy hosts fetched, want 10", healthy)
	}
	// Set aside after 2 failures in all, and one more try by each other node.
	if n := len(byHost[failing]); n > 2+2 {
		t.Errorf("the failing host was asked %d times, want ≤ 4 (--max-host-failures 2, and 2 more nodes)", n)
	}
	t.Logf("requests to the failing host: %d", len(byHost[failing]))
}

// TestShared_FailingHostSetAside has three nodes crawl a site one of whose
// hosts answers everything with 503: failures in a row are counted for the
// crawl, so the host is set aside after --max-host-failures requests in
// all, plus at most one more by each other node (which learns of it from
// its own failure), not after that many per node.
func TestShared_FailingHostSetAside(t *testing.T) {
	r := redistest.Start(t)
	const maxFailures, nodes = 4, 3
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 10, Latency: 20 * time.Millisecond,
		Unavailable: []int{2}, RetryAfter: time.Second})
	procs := startNodes(t, nodes, r, site, "--rate", "0", "--workers", "3", "--max-host-failures", strconv.Itoa(maxFailures))
	waitNodes(t, procs, 60*time.Second)
	failing := site.Hosts()[2]
	n := site.RequestsPerHost()[failing]
	if n < maxFailures || n > maxFailures+nodes-1 {
		t.Errorf("the failing host was asked %d times by %d nodes, want %d to %d", n, nodes, maxFailures, maxFailures+nodes-1)
	}
	t.Logf("the failing host was asked %d times", n)
	for p, c := range pageRequests(site) {
		if !strings.HasPrefix(p, failing+"/") && c != 1 {
			t.Errorf("%s requested %d times, want once", p, c)
		}
	}
}

// TestShared_Sitemap has two nodes crawl a site known from its sitemap of
// 600 pages (more than one batch of admissions): every page is fetched
// once.
func TestShared_Sitemap(t *testing.T) {
	r := redistest.Start(t)
	const pages = 600
	var mu sync.Mutex
	hits := map[string]int{}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		hits[req.URL.Path]++
		mu.Unlock()
		switch req.URL.Path {
		case "/robots.txt":
			fmt.Fprintf(w, "User-agent: *\nAllow: /\nSitemap: http://%s/sitemap.xml\n", req.Host)
		case "/sitemap.xml":
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
			for i := range pages {
				fmt.Fprintf(w, "<url><loc>http://%s/p/%d</loc></url>", req.Host, i)
			}
			fmt.Fprint(w, "</urlset>")
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>no links</body></html>")
		}
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	nodes := startNodesAt(t, 2, r, srv.URL+"/", []string{"--allow-domain", "127.0.0.2"}, "--rate", "0", "--sitemaps", "--workers", "4")
	waitNodes(t, nodes, 60*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for i := range pages {
		if n := hits[fmt.Sprintf("/p/%d", i)]; n != 1 {
			t.Errorf("/p/%d requested %d times, want once", i, n)
		}
	}
	if got := pagesByNode(t, nodes); len(got) != pages+1 {
		t.Errorf("%d pages recorded, want %d (the seed and the sitemap's pages)", len(got), pages+1)
	}
}

// TestShared_Budget gives three nodes --max-pages 40: the budget is the
// crawl's, so 40 pages are fetched in all, not 40 per node; a fourth node
// started afterwards exits at once.
func TestShared_Budget(t *testing.T) {
	r := redistest.Start(t)
	site := startSite(t, testsite.Config{Hosts: 4, PagesPerHost: 50})
	nodes := startNodes(t, 3, r, site, "--rate", "0", "--max-pages", "40", "--workers", "4")
	waitNodes(t, nodes, 60*time.Second)
	if got := pagesByNode(t, nodes); len(got) != 40 {
		t.Errorf("%d pages recorded by 3 nodes with --max-pages 40, want 40", len(got))
	}
	if pages := servedPages(site); pages != 40 {
		t.Errorf("the site served %d pages, want 40", pages)
	}

	// A node joining once the crawl is done finds nothing to do and exits 0.
	late := startNodes(t, 1, r, site, "--rate", "0", "--max-pages", "40", "--workers", "4")
	waitNodes(t, late, 10*time.Second)
	if got := pagesByNode(t, late); len(got) != 0 {
		t.Errorf("a node started after the crawl was done recorded %d pages, want 0", len(got))
	}
}

// TestShared_HostCap gives three nodes --max-pages-per-host 12: the cap is
// the crawl's, so each host gives 12 pages in all, not 12 per node.
func TestShared_HostCap(t *testing.T) {
	r := redistest.Start(t)
	const hosts, hostCap = 4, 30
	// Latency and few workers make the crawl last long enough for every
	// node to take part, each finding links of every host.
	site := startSite(t, testsite.Config{Hosts: hosts, PagesPerHost: 100, Latency: 50 * time.Millisecond})
	nodes := startNodes(t, 3, r, site, "--rate", "0", "--max-pages-per-host", strconv.Itoa(hostCap), "--workers", "2")
	waitNodes(t, nodes, 60*time.Second)
	perHost := map[string]int{}
	for p := range pageRequests(site) {
		perHost[p[:strings.IndexByte(p, '/')]]++
	}
	for _, h := range site.Hosts() {
		if perHost[h] != hostCap {
			t.Errorf("host %s: %d pages fetched by 3 nodes with --max-pages-per-host %d, want %d", h, perHost[h], hostCap, hostCap)
		}
	}
	got := pagesByNode(t, nodes)
	if len(got) != hosts*hostCap {
		t.Errorf("%d pages recorded, want %d", len(got), hosts*hostCap)
	}
	perNode := map[string]int{}
	for _, by := range got {
		perNode[by[0]]++
	}
	if len(perNode) < 2 {
		t.Errorf("pages per node %v; want several nodes to take part, or the cap is not tested across nodes", perNode)
	}
}

// TestShared_RefusesOtherConfig starts a node whose filters differ from the
// crawl's: it must exit with a clear error rather than crawl by other rules.
func TestShared_RefusesOtherConfig(t *testing.T) {
	r := redistest.Start(t)
	site := startSite(t, testsite.Config{Hosts: 1, PagesPerHost: 5})
	first := startNodes(t, 1, r, site, "--rate", "0")
	waitNodes(t, first, 30*time.Second)
	other := startNodes(t, 1, r, site, "--rate", "0", "--max-depth", "1")
	err := other[0].cmd.Wait()
	if err == nil || !strings.Contains(other[0].stderr.String(), "different config") {
		t.Errorf("node with other filters: exit %v, stderr %q; want a failure naming the different config", err, other[0].stderr.String())
	}
}

// TestShared_NodeKilled kills one of three nodes with SIGKILL mid-crawl:
// within the dead-node timeout the others take its leases back, the crawl
// completes with every page fetched, and only pages that node held leased
// at the kill are fetched twice.
func TestShared_NodeKilled(t *testing.T) {
	r := redistest.Start(t)
	const hosts, pages = 8, 20
	site := startSite(t, testsite.Config{Hosts: hosts, PagesPerHost: pages, Latency: 300 * time.Millisecond})
	nodes := startNodes(t, 3, r, site, "--rate", "4", "--burst", "1", "--workers", "3")
	victim := nodes[1]
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer rdb.Close()
	leasesKey := "cd:{c:t}:l:" + victim.id // the victim's lease set (see the redisq package doc)
	ctx := context.Background()
	waitUntil(t, func() string {
		return fmt.Sprintf("%d pages served, victim holds %d leases", servedPages(site), rdb.SCard(ctx, leasesKey).Val())
	}, func() bool {
		return servedPages(site) >= hosts*pages/3 && rdb.SCard(ctx, leasesKey).Val() > 0
	})
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	// Read after the kill, the count is exact: nothing changes it until
	// the victim is found dead and its leases handed back.
	leased, err := rdb.SCard(ctx, leasesKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	waitNodes(t, []*node{nodes[0], nodes[2]}, 60*time.Second)

	fetched := pageRequests(site)
	if len(fetched) != hosts*pages {
		t.Errorf("%d distinct pages fetched, want %d: pages were lost with the killed node", len(fetched), hosts*pages)
	}
	twice := refetches(fetched)
	if twice > int(leased) {
		t.Errorf("%d pages fetched again after the kill, want ≤ %d (the killed node's leases)", twice, leased)
	}
	got := pagesByNode(t, nodes)
	if len(got) != hosts*pages {
		t.Errorf("%d pages recorded across the nodes' outputs, want %d", len(got), hosts*pages)
	}
	t.Logf("victim held %d leases at the kill; pages fetched twice: %d", leased, twice)
}
