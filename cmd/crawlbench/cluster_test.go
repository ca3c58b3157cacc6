package main

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// TestClusterScenarios checks, without crawling, that the cluster group is
// what the goals need: the same crawl on 1 and 3 nodes, the baselines
// run before the ratios that use them, and sites where the bound is the
// one claimed.
func TestClusterScenarios(t *testing.T) {
	byName := scenarioByName(t)
	var group []string
	for _, sc := range scenarios() {
		if selected(sc, groupCluster) {
			group = append(group, sc.name)
		}
	}
	want := []string{"throughput", "throughput-pebble", "cluster-politeness-local", "cluster-politeness-1", "cluster-politeness-3",
		"cluster-capacity-local", "cluster-capacity-pebble", "cluster-capacity-1", "cluster-capacity-3", "cluster-throughput-redis-1",
		"cluster-fanout-local", "cluster-fanout-redis-1", "cluster-cpu-local", "cluster-cpu-redis-1"}
	if !slices.Equal(group, want) {
		t.Fatalf("-scenario cluster runs %v, want %v", group, want)
	}
	for i, name := range group {
		sc := byName[name]
		if sc.goal == nil {
			continue
		}
		for _, base := range append([]string{sc.goal.of}, sc.goal.also...) {
			if base == "" {
				continue
			}
			if j := slices.Index(group, base); j < 0 || j > i {
				t.Errorf("%s is compared with %s, which the group does not run before it", name, base)
			}
			if b := byName[base]; !reflect.DeepEqual(b.site, sc.site) || !slices.Equal(b.args, sc.args) || b.rate != sc.rate || b.burst != sc.burst {
				t.Errorf("%s and its baseline %s crawl differently", name, base)
			}
		}
		if strings.HasPrefix(name, "cluster-") && sc.strict != (sc.rate > 0) {
			t.Errorf("%s: strict %v with rate %v; every cluster scenario with a rate is judged", name, sc.strict, sc.rate)
		}
	}

	// Politeness-bound: the politeness scenario's crawl, on 0 (embedded), 1
	// and 3 nodes, judged by the lower bound.
	pol := byName["politeness"]
	for name, nodes := range map[string]int{"cluster-politeness-local": 0, "cluster-politeness-1": 1, "cluster-politeness-3": 3} {
		sc := byName[name]
		if sc.nodes != nodes || !reflect.DeepEqual(sc.site, pol.site) || sc.rate != pol.rate || sc.burst != 1 || !slices.Equal(sc.args, pol.args) || !sc.bound {
			t.Errorf("%s: %+v; want the politeness crawl on %d nodes", name, sc, nodes)
		}
	}
	if g := byName["cluster-politeness-3"].goal; g == nil || g.of != "" || g.max != 1.05 || g.min != 0 {
		t.Errorf("cluster-politeness-3: goal %+v, want done/bound ≤ 1.05", g)
	}

	// Capacity-bound: the workers bind, not the rate.
	for name, nodes := range map[string]int{"cluster-capacity-local": 0, "cluster-capacity-pebble": 0, "cluster-capacity-1": 1, "cluster-capacity-3": 3} {
		sc := byName[name]
		if sc.nodes != nodes || sc.durable != (name == "cluster-capacity-pebble") {
			t.Errorf("%s: %d nodes, durable %v", name, sc.nodes, sc.durable)
		}
		if sc.site.Hosts > testsite.MaxHosts || sc.site.Latency != 100*time.Millisecond {
			t.Errorf("%s: site %+v", name, sc.site)
		}
		workers := intFlag(t, sc.args, "--workers", 0)
		if workers != 8 {
			t.Errorf("%s: %d workers per node, want 8", name, workers)
		}
		// What 3 nodes can fetch at most, against what the rate allows.
		capacity := 3 * float64(workers) / sc.site.Latency.Seconds()
		if allowed := sc.rate * float64(sc.site.Hosts); allowed < 5*capacity {
			t.Errorf("%s: the rate allows %.0f pages/s, too close to the %.0f pages/s of 3 nodes' workers", name, allowed, capacity)
		}
	}
	if g := byName["cluster-capacity-3"].goal; g == nil || g.of != "cluster-capacity-1" || g.min != 2.7 {
		t.Errorf("cluster-capacity-3: goal %+v, want ≥ 2.7 × cluster-capacity-1", g)
	}

	// Throughput on Redis against the embedded default.
	red := byName["cluster-throughput-redis-1"]
	if red.nodes != 1 || red.durable {
		t.Errorf("cluster-throughput-redis-1: %d nodes, durable %v", red.nodes, red.durable)
	}
	if g := red.goal; g == nil || g.of != "throughput" || g.min != 0.8 {
		t.Errorf("cluster-throughput-redis-1: goal %+v, want ≥ 0.8 × throughput", g)
	}
	if w, c := intFlag(t, red.args, "--workers", 0), intFlag(t, red.args, "--per-host-concurrency", 0); w != 64 || c != 64 {
		t.Errorf("cluster-throughput-redis-1: %d workers, %d per host", w, c)
	}

	// Fan-out: hubs of many new links, politeness unbounded.
	for name, nodes := range map[string]int{"cluster-fanout-local": 0, "cluster-fanout-redis-1": 1} {
		sc := byName[name]
		if sc.nodes != nodes || sc.durable || sc.rate != 0 || sc.site.Hubs == 0 || sc.site.LeavesPerHub < 50 || sc.site.CountOnly {
			t.Errorf("%s: %d nodes, durable %v, rate %v, site %+v", name, sc.nodes, sc.durable, sc.rate, sc.site)
		}
	}
	if g := byName["cluster-fanout-redis-1"].goal; g == nil || g.of != "cluster-fanout-local" || g.min != 0.8 {
		t.Errorf("cluster-fanout-redis-1: goal %+v, want ≥ 0.8 × cluster-fanout-local", g)
	}

	// CPU-bound: big pages of many links, nothing else binds.
	for name, nodes := range map[string]int{"cluster-cpu-local": 0, "cluster-cpu-redis-1": 1} {
		sc := byName[name]
		if sc.nodes != nodes || sc.durable || sc.rate != 0 || sc.strict {
			t.Errorf("%s: %d nodes, durable %v, rate %v, strict %v", name, sc.nodes, sc.durable, sc.rate, sc.strict)
		}
		site := sc.site
		if site.Latency != 0 || site.Padding < 250_000 || site.Padding > 350_000 || site.Hosts < 4 || site.Hosts > 10 || site.Hubs != 0 {
			t.Errorf("%s: site %+v, want 4–10 hosts of about 300 KB pages and no latency", name, site)
		}
		// The chain link and the random ones, on the host and across hosts.
		if links := 1 + site.LinksPerPage + site.CrossLinks; links != 200 || site.LinksPerPage >= site.PagesPerHost/2 {
			t.Errorf("%s: %d links a page among %d pages a host, want 200 and mostly duplicates", name, links, site.PagesPerHost)
		}
		workers, perHost := intFlag(t, sc.args, "--workers", 0), intFlag(t, sc.args, "--per-host-concurrency", 0)
		if workers != 16 || perHost*site.Hosts < 2*workers {
			t.Errorf("%s: %d workers, %d per host on %d hosts: politeness must not bind", name, workers, perHost, site.Hosts)
		}
	}
	if g := byName["cluster-cpu-redis-1"].goal; g == nil || g.of != "cluster-cpu-local" || g.min != 0.8 || g.max != 0 {
		t.Errorf("cluster-cpu-redis-1: goal %+v, want ≥ 0.8 × cluster-cpu-local", g)
	}

	for _, sc := range scenarios() {
		if sc.nodes > 0 && sc.durable {
			t.Errorf("%s: on Redis and in the embedded store at once", sc.name)
		}
	}
}

// infoText is the shape of INFO cpu and stats from redis-server 7.0.
const infoText = "# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:0.000000\r\n" +
	"used_cpu_user_children:0.000000\r\n\r\n# Stats\r\ntotal_connections_received:7\r\ntotal_commands_processed:123456\r\n" +
	"instantaneous_ops_per_sec:12\r\nerrorstat_ERR:count=1\r\n\r\n# Commandstats\r\n" +
	"cmdstat_hget:calls=9000,usec=900,usec_per_call=0.10,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_evalsha:calls=4000,usec=130057,usec_per_call=32.51,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_eval:calls=3,usec=200,usec_per_call=66.67,rejected_calls=0,failed_calls=0\r\n"

func TestUsageFromInfo(t *testing.T) {
	fields := parseInfo(infoText)
	if fields["used_cpu_user"] != "2.500000" || fields["errorstat_ERR"] != "count=1" || fields["total_connections_received"] != "7" {
		t.Errorf("parseInfo: %v", fields)
	}
	if _, ok := fields["# CPU"]; ok {
		t.Error("a section header parsed as a field")
	}
	u, err := usageFromInfo(infoText)
	if err != nil {
		t.Fatal(err)
	}
	if u.cpu != 3750*time.Millisecond || u.commands != 123456 || u.scripts != 4003 {
		t.Errorf("usage %+v, want 3.75 s, 123456 commands and 4003 script calls", u)
	}
	later := redisUsage{cpu: 5 * time.Second, commands: 200000, scripts: 5000}
	if d := later.sub(u); d.cpu != 1250*time.Millisecond || d.commands != 76544 || d.scripts != 997 {
		t.Errorf("delta %+v", d)
	}
	// No script called yet: INFO has no line for it.
	if u, err := usageFromInfo(strings.Split(infoText, "# Commandstats")[0]); err != nil || u.scripts != 0 {
		t.Errorf("without commandstats: %+v, %v", u, err)
	}
	for _, broken := range []string{
		strings.Replace(infoText, "used_cpu_sys:", "used_cpu_sys_x:", 1),
		strings.Replace(infoText, "total_commands_processed:123456", "total_commands_processed:lots", 1),
		strings.Replace(infoText, "cmdstat_evalsha:calls=4000", "cmdstat_evalsha:calls=many", 1),
		"",
	} {
		if _, err := usageFromInfo(broken); err == nil {
			t.Errorf("no error for %q", broken)
		}
	}
}

func TestCheckNodeRecords(t *testing.T) {
	s := fanOutSite(t)
	urls := s.URLs()
	withNode := func(urls []string, node string) string {
		var b strings.Builder
		for _, u := range urls {
			b.WriteString(`{"url":"` + u + `","status":200,"node":"` + node + `"}` + "\n")
		}
		return b.String()
	}
	check := func(outs map[string]string) ([]int, int, error) {
		c := newRecordChecker(s)
		var per []int
		for _, id := range []string{"n1", "n2"} {
			n, err := checkNodeRecords(c, id, strings.NewReader(outs[id]))
			if err != nil {
				return per, 0, err
			}
			per = append(per, n)
		}
		total, err := c.done()
		return per, total, err
	}
	per, total, err := check(map[string]string{"n1": withNode(urls[:5], "n1"), "n2": withNode(urls[5:], "n2")})
	if err != nil || total != len(urls) || !slices.Equal(per, []int{5, len(urls) - 5}) {
		t.Errorf("split crawl: %v, %d, %v", per, total, err)
	}
	for name, outs := range map[string]map[string]string{
		"twice across nodes": {"n1": withNode(urls[:5], "n1"), "n2": withNode(urls[4:], "n2")},
		"missing":            {"n1": withNode(urls[:5], "n1"), "n2": withNode(urls[6:], "n2")},
		"other node's":       {"n1": withNode(urls[:5], "n2"), "n2": withNode(urls[5:], "n2")},
		"truncated":          {"n1": strings.TrimSuffix(withNode(urls[:5], "n1"), "}\n"), "n2": withNode(urls[4:], "n2")},
	} {
		if _, _, err := check(outs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNodeLogFilter(t *testing.T) {
	var out bytes.Buffer
	w := &lineWriter{line: nodeLogFilter("n2", &out)}
	w.Write([]byte(`{"level":"warn","msg":"redis","warning":"redis appendonly is no: a Redis restart loses the crawl's state"}` + "\n" +
		`{"level":"warn","msg":"redis","warning":"set-max-intset-entries is 128"}` + "\n" + "panic: boom\n"))
	w.flush()
	want := `n2: {"level":"warn","msg":"redis","warning":"set-max-intset-entries is 128"}` + "\n" + "n2: panic: boom\n"
	if out.String() != want {
		t.Errorf("forwarded %q, want %q", out.String(), want)
	}
}

// TestStartRedis starts a private redis-server, as the cluster scenarios
// do, and reads its usage; it takes a few milliseconds.
func TestStartRedis(t *testing.T) {
	ctx := context.Background()
	r, err := startRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	before, err := r.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := r.client.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := r.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.sub(before); d.commands != 11 {
		t.Errorf("delta %+v, want 11 commands: 10 PINGs and the first INFO", d)
	}
	if err := r.client.Eval(ctx, "return redis.call('ping')", nil).Err(); err != nil {
		t.Fatal(err)
	}
	after, err = r.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The 10 PINGs, the two INFOs before the last, the EVAL and the PING
	// it ran.
	if d := after.sub(before); d.commands != 14 || d.scripts != 1 || d.cpu < 0 {
		t.Errorf("delta %+v, want 14 commands and a script", d)
	}
	policy, err := r.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil || policy["maxmemory-policy"] != "noeviction" {
		t.Errorf("maxmemory-policy %v (%v), want noeviction", policy, err)
	}
}
