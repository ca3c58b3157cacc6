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

func scenarioByName(t *testing.T) map[string]scenario {
	t.Helper()
	byName := map[string]scenario{}
	for _, sc := range scenarios() {
		byName[sc.name] = sc
	}
	return byName
}

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

func TestSelected(t *testing.T) {
	byName := scenarioByName(t)
	for _, tt := range []struct {
		only, name string
		want       bool
	}{
		{"", "politeness", true},
		{"", "throughput", true},
		{"", "cluster-capacity-3", false},
		{"", "frontier", false},
		{"cluster", "throughput", true},
		{"cluster", "cluster-capacity-3", true},
		{"cluster", "politeness", false},
		{"cluster", "frontier", false},
		{"cluster-capacity-3", "cluster-capacity-3", true},
		{"cluster-capacity-3", "cluster-capacity-1", false},
		{"throughput", "throughput", true},
		{"throughput", "cluster-throughput-redis-1", false},
		{"", "cluster-cpu-local", false},
		{"cluster", "cluster-cpu-redis-1", true},
		{"cluster-cpu-local", "cluster-cpu-local", true},
		{"cluster-cpu-local", "cluster-cpu-redis-1", false},
	} {
		if got := selected(byName[tt.name], tt.only); got != tt.want {
			t.Errorf("-scenario %q runs %s: %v, want %v", tt.only, tt.name, got, tt.want)
		}
	}
	if !slices.Contains(scenarioNames(), "cluster") {
		t.Errorf("scenario names %v lack the group", scenarioNames())
	}
	for only, want := range map[string]bool{"": false, "throughput": false, "cluster": true, "cluster-capacity-1": true} {
		if wideTable(only) != want {
			t.Errorf("wideTable(%q) = %v", only, !want)
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
