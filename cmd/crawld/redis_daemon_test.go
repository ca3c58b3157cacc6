package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
)

// TestShared_Daemons runs two `crawld run` nodes on one shared crawl: both
// report the node and the live nodes in /status and /metrics, the crawl
// completes once across them, both go idle rather than exit, and SIGTERM
// stops each with exit 0.
func TestShared_Daemons(t *testing.T) {
	r := redistest.Start(t)
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 20})
	dir := t.TempDir()
	start := func(id string) *daemonProc {
		return startDaemon(t, append([]string{"--seed", site.SeedURL(), "--rate", "0", "--storage", "redis", "--redis-url", r.URL,
			"--redis-crawl-id", "d", "--node-id", id, "--output", filepath.Join(dir, id+".jsonl")}, domainFlags(site)...)...)
	}
	a, b := start("a"), start("b")
	var st struct {
		State     string   `json:"state"`
		Node      string   `json:"node"`
		LiveNodes []string `json:"live_nodes"`
	}
	statusOf := func(d *daemonProc) {
		_, body := d.get(t, "/status")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("status %q: %v", body, err)
		}
	}
	for _, d := range []*daemonProc{a, b} {
		waitFor(t, "idle with both nodes live", 30*time.Second, func() bool {
			statusOf(d)
			return st.State == "idle" && len(st.LiveNodes) == 2
		})
	}
	statusOf(b)
	if st.Node != "b" || strings.Join(st.LiveNodes, ",") != "a,b" {
		t.Errorf("b's status: node %q, live nodes %v; want b, [a b]", st.Node, st.LiveNodes)
	}
	if _, body := a.get(t, "/metrics"); !strings.Contains(body, `crawld_node_info{node="a"} 1`) || !strings.Contains(body, "crawld_cluster_live_nodes 2") {
		t.Errorf("a's metrics lack the node info or live nodes:\n%s", body)
	}
	for _, d := range []*daemonProc{a, b} {
		if code := d.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, d.log())
		}
	}
	fetched := pageRequests(site)
	if len(fetched) != 60 {
		t.Errorf("%d pages fetched, want 60", len(fetched))
	}
	for p, n := range fetched {
		if n != 1 {
			t.Errorf("%s fetched %d times", p, n)
		}
	}
}

// TestShared_RedisRestarts restarts Redis (SIGKILL, then the same data
// directory with its append-only file) while three nodes crawl: the nodes
// notice it and ride through it, the crawl completes with every page
// fetched, and only pages leased around the restart are fetched twice.
func TestShared_RedisRestarts(t *testing.T) {
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "everysec")
	const hosts, pages = 6, 20
	site := startSite(t, testsite.Config{Hosts: hosts, PagesPerHost: pages, Latency: 50 * time.Millisecond})
	nodes := startNodes(t, 3, r, site, "--rate", "5", "--burst", "1", "--workers", "3")
	waitUntil(t, func() string { return fmt.Sprintf("only %d pages served", servedPages(site)) },
		func() bool { return servedPages(site) >= hosts*pages/3 })
	r.Kill(t)
	r.Restart(t)
	waitNodes(t, nodes, 90*time.Second)

	fetched := pageRequests(site)
	if len(fetched) != hosts*pages {
		t.Errorf("%d distinct pages fetched, want %d", len(fetched), hosts*pages)
	}
	twice := refetches(fetched)
	// At most the leases in flight (3 nodes × 3 workers) plus the claims
	// of the last second, which the append-only file may not have kept.
	if limit := 3*3 + hosts*5; twice > limit {
		t.Errorf("%d pages fetched twice, want ≤ %d", twice, limit)
	}
	for _, nd := range nodes {
		if !strings.Contains(nd.stderr.String(), "restart") {
			t.Errorf("node %s logged no warning of the restart; stderr:\n%s", nd.id, nd.stderr.String())
		}
	}
	t.Logf("pages fetched twice: %d", twice)
}

// A lease too short to survive a brief stall, a robots budget smaller
// than one shared outcome, or a max_depth beyond what the shared seen set
// keeps, is refused with exit 2 naming the key.
func TestShared_LeaseAndRobotsConfigRefused(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantKey string
	}{
		{[]string{"--redis-lease-ttl", "5s"}, "redis.lease_ttl"},
		{[]string{"--redis-lease-ttl", "0s"}, "redis.lease_ttl"},
		{[]string{"--redis-robots-memory", "1KiB"}, "redis.robots_memory"},
		{[]string{"--max-depth", "64"}, "max_depth"},
	} {
		args := append([]string{"crawl", "--seed", "http://127.0.0.2/", "--storage", "redis"}, tt.args...)
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if msg := stderr.String(); code != exitUsage || !strings.Contains(msg, tt.wantKey) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s", tt.args, code, msg, exitUsage, tt.wantKey)
		}
	}
}

// The cluster's live-nodes gauge reads the heartbeat's snapshot: a scrape
// of /metrics answers while Redis does not (it used to ask Redis, and
// report NaN after 2 s).
func TestShared_LiveNodesGaugeWhileRedisStopped(t *testing.T) {
	r := redistest.Start(t)
	s := defaultSettings()
	s.redisURL, s.redisCrawlID, s.nodeID = r.URL, "gauge", "n1"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	front, err := openRedis(ctx, s, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = front.(redisFrontier).Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(clusterMetrics(front.(redisFrontier))[1])
	r.Pause(t)
	got := make(chan float64, 1)
	go func() {
		v := math.Inf(-1) // not gathered
		if mfs, err := reg.Gather(); err == nil && len(mfs) == 1 && len(mfs[0].GetMetric()) == 1 {
			v = mfs[0].GetMetric()[0].GetGauge().GetValue()
		}
		got <- v
	}()
	select {
	case v := <-got:
		r.Resume()
		if v != 1 {
			t.Errorf("crawld_cluster_live_nodes while Redis is stopped = %v; want 1", v)
		}
	case <-time.After(60 * time.Second):
		r.Resume()
		t.Fatal("crawld_cluster_live_nodes still waits on the stopped Redis after 60s")
	}
}
