// Command crawlbench measures whole crawls by the crawld binary of the
// synthetic loopback site (internal/testsite), the site running in this
// process and crawld in its own, so that crawld's peak RSS and CPU time are
// its alone. It prints one Markdown table row per scenario.
//
//	go run ./cmd/crawlbench                 # every scenario but the on-request ones
//	go run ./cmd/crawlbench -scenario politeness
//	go run ./cmd/crawlbench -scenario frontier
//
// Scenarios:
//   - politeness: 50 hosts × 40 pages, links within and across hosts, 50 ms
//     per response, --rate 4 --burst 1, 32 workers. The wall time is compared
//     with the simulated lower bound for this very link graph (see
//     lowerBound), and every host's busiest 1 s window is measured on the
//     server's side.
//   - politeness-503: the same, with the last host answering every request
//     (robots.txt included) with 503 and Retry-After: 5. The other 49 hosts
//     must finish as if it were not there; their finish time is compared
//     with the healthy bound above, and with the bound for a site whose
//     failing host yields no links.
//   - throughput: one host, 20,000 pages, no latency, --rate 0, 64 workers
//     and 64 requests in flight to the host.
//   - throughput-pebble: the same with the crawl's state in the embedded
//     store (--storage pebble), whose size on disk is reported too.
//   - hostile: 8 hosts whose every page links to an endless body, a 1 GiB
//     gzip bomb and 200 more pages of an endless calendar; 32 workers,
//     --max-pages 20000. What matters is crawld's peak RSS.
//   - frontier (on request: it takes minutes): the bounded frontier. 25 hosts,
//     each a home page linking to 100 hubs of 800 leaves: 2,000,000 leaves,
//     2,002,525 pages, all fetched (no max_pages), --rate 0, 64 workers, 16
//     requests in flight per host, --frontier-memory-limit 256MiB. Taking
//     each host's URLs first in, first out, crawld fetches every hub before
//     any leaf, so nearly all the leaves wait in the frontier at once. The
//     last column shows it: the most URLs queued at once, how many of them
//     were spilled to disk and the spill directory's size then, sampled
//     from crawld's progress lines once a second. The goal is a peak RSS
//     under 512 MiB; the run fails if crawld exceeds it.
//   - frontier-unbounded (on request): the same crawl with
//     --frontier-memory-limit 0, every queued URL in memory: what the bound
//     saves, and what it costs in time and CPU.
//
// In every scenario but hostile the records are checked: each page of the
// site must be recorded exactly once and, unless its host fails on purpose,
// without error, so "records" is also the number of URLs the crawl
// discovered.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// scenario is one benchmark crawl.
type scenario struct {
	name    string
	durable bool // keep the crawl's state in the embedded store
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
}

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
	return []scenario{
		{
			name:  "politeness",
			site:  testsite.Config{Hosts: 50, PagesPerHost: 40, Latency: 50 * time.Millisecond, Seed: 1},
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
			name:  "throughput",
			site:  testsite.Config{Hosts: 1, PagesPerHost: 20000, Seed: 1},
			rate:  0,
			burst: 1,
			args:  []string{"--workers", "64", "--per-host-concurrency", "64"},
		},
		{
			name:    "throughput-pebble",
			site:    testsite.Config{Hosts: 1, PagesPerHost: 20000, Seed: 1},
			rate:    0,
			burst:   1,
			args:    []string{"--workers", "64", "--per-host-concurrency", "64"},
			durable: true,
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
	}
}

// scenarioNames lists every scenario -scenario accepts.
func scenarioNames() []string {
	names := []string{"hostile"}
	for _, sc := range scenarios() {
		names = append(names, sc.name)
	}
	return names
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crawlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("scenario", "", "run only this scenario ("+strings.Join(scenarioNames(), ", ")+")")
	binary := fs.String("crawld", "", "crawld binary to measure (default: build ./cmd/crawld)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *only != "" && !slices.Contains(scenarioNames(), *only) {
		fmt.Fprintf(stderr, "crawlbench: unknown scenario %q (%s)\n", *only, strings.Join(scenarioNames(), ", "))
		return 2
	}
	if *binary == "" {
		dir, err := os.MkdirTemp("", "crawlbench")
		if err != nil {
			fmt.Fprintln(stderr, "crawlbench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, "crawld")
		build := exec.CommandContext(ctx, "go", "build", "-o", *binary, "./cmd/crawld")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(stderr, "crawlbench: build crawld:", err)
			return 1
		}
	}
	fmt.Fprintln(stdout, "| scenario | records | crawl s | healthy hosts done s | lower bound s | done/bound | pages/s | CPU s per 1k pages | peak RSS MiB | busiest 1 s window (limit) | store bytes per URL | peak frontier URLs (spilled; MiB on disk) |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	code := 0
	if *only == "" || *only == "hostile" {
		res, err := measureHostile(ctx, *binary)
		if err != nil {
			fmt.Fprintf(stderr, "crawlbench: hostile: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, res.row(scenario{name: "hostile"}))
	}
	for _, sc := range scenarios() {
		if *only != sc.name && (*only != "" || sc.onRequest) {
			continue
		}
		measureOne := measure
		if sc.site.CountOnly {
			// A count-only site keeps no request log for measure to read.
			measureOne = measureFrontier
		}
		res, err := measureOne(ctx, *binary, sc)
		if err != nil {
			fmt.Fprintf(stderr, "crawlbench: %s: %v\n", sc.name, err)
			return 1
		}
		fmt.Fprintln(stdout, res.row(sc))
		if sc.maxRSS > 0 && res.peakRSS >= sc.maxRSS {
			// The row is printed first so the failing number is on record.
			fmt.Fprintf(stderr, "crawlbench: %s: peak RSS %.1f MiB, over the %d MiB goal\n",
				sc.name, float64(res.peakRSS)/(1<<20), sc.maxRSS>>20)
			code = 1
		}
	}
	return code
}

// result is what one crawl measured.
type result struct {
	pages        int           // records written
	wall         time.Duration // the whole crawl
	healthyDone  time.Duration // until the last request to a host that is not Unavailable
	bound        time.Duration // simulated finish of the healthy hosts on a fully healthy site
	boundWithout time.Duration // the same when the Unavailable hosts yield no links
	cpu          time.Duration
	peakRSS      int64         // bytes
	busiest      int           // most requests any host received within 1 s
	storeBytes   int64         // size of the embedded store after the crawl; 0 without one
	noLog        bool          // the site kept no request log: no finish time or busiest window
	frontier     *frontierPeak // nil when crawld did not report its frontier
}

func (r result) row(sc scenario) string {
	bound, ratio := "–", "–"
	if r.bound > 0 {
		bound = fmt.Sprintf("%.2f", r.bound.Seconds())
		ratio = fmt.Sprintf("%.3f", r.healthyDone.Seconds()/r.bound.Seconds())
		if r.boundWithout != r.bound {
			bound += fmt.Sprintf(" (%.2f without the failing host's links)", r.boundWithout.Seconds())
			ratio += fmt.Sprintf(" (%.3f)", r.healthyDone.Seconds()/r.boundWithout.Seconds())
		}
	}
	limit := "unlimited"
	if sc.rate > 0 {
		limit = fmt.Sprint(int(sc.rate) + sc.burst)
	}
	store := "–"
	if r.storeBytes > 0 {
		store = fmt.Sprintf("%.0f", float64(r.storeBytes)/float64(max(r.pages, 1)))
	}
	done, busiest := fmt.Sprintf("%.2f", r.healthyDone.Seconds()), fmt.Sprintf("%d (%s)", r.busiest, limit)
	if r.noLog {
		done, busiest = "–", "–"
	}
	rss := fmt.Sprintf("%.1f", float64(r.peakRSS)/(1<<20))
	if sc.maxRSS > 0 {
		rss += fmt.Sprintf(" (goal < %d)", sc.maxRSS>>20)
	}
	front := "–"
	if f := r.frontier; f != nil {
		front = fmt.Sprintf("%d (%d; %.1f)", f.queued, f.spilled, float64(f.diskBytes)/(1<<20))
	}
	return fmt.Sprintf("| %s | %d | %.2f | %s | %s | %s | %.0f | %.3f | %s | %s | %s | %s |",
		sc.name, r.pages, r.wall.Seconds(), done, bound, ratio,
		float64(r.pages)/r.wall.Seconds(), r.cpu.Seconds()*1000/float64(max(r.pages, 1)),
		rss, busiest, store, front)
}

func measure(ctx context.Context, binary string, sc scenario) (result, error) {
	site, err := testsite.Start(sc.site)
	if err != nil {
		return result{}, err
	}
	defer site.Close()
	var domains []string
	for _, h := range site.Hosts() {
		host, _, _ := net.SplitHostPort(h)
		domains = append(domains, host)
	}
	args := append([]string{"crawl", "--seed", site.SeedURL(),
		"--rate", fmt.Sprint(sc.rate), "--burst", fmt.Sprint(sc.burst),
		"--log-level", "warn", "--progress-interval", "0", "--allow-cidr", "127.0.0.0/8"}, sc.args...)
	var dataDir string
	if sc.durable {
		if dataDir, err = os.MkdirTemp("", "crawlbench-store"); err != nil {
			return result{}, err
		}
		defer os.RemoveAll(dataDir)
		args = append(args, "--storage", "pebble", "--data-dir", dataDir)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CRAWLD_ALLOW_DOMAINS="+strings.Join(domains, " "))
	var records bytes.Buffer
	cmd.Stdout = &records
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("crawld: %w", err)
	}
	res := result{wall: time.Since(start)}
	usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no resource usage for crawld")
	}
	res.peakRSS = usage.Maxrss * 1024 // Linux reports KiB
	if dataDir != "" {
		if res.storeBytes, err = dirSize(dataDir); err != nil {
			return result{}, err
		}
	}
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	failing := make(map[string]bool)
	for _, h := range sc.site.Unavailable {
		failing[site.Hosts()[h]] = true
	}
	healthy := func(host string) bool { return !failing[host] }
	if res.pages, err = countRecords(&records, site.URLs(), healthy); err != nil {
		return result{}, err
	}
	for _, n := range site.BusiestWindow(time.Second) {
		res.busiest = max(res.busiest, n)
	}
	for _, r := range site.Requests() {
		if healthy(r.Host) {
			res.healthyDone = max(res.healthyDone, r.At.Sub(start))
		}
	}
	if sc.bound {
		hostOf := func(page string) string {
			u, _ := url.Parse(page)
			return u.Host
		}
		interval := time.Duration(float64(time.Second) / sc.rate)
		res.bound = latest(lowerBound(site.SeedURL(), site.Links, hostOf, interval, sc.site.Latency), healthy)
		withoutFailing := func(page string) []string {
			if failing[hostOf(page)] {
				return nil
			}
			return site.Links(page)
		}
		res.boundWithout = latest(lowerBound(site.SeedURL(), withoutFailing, hostOf, interval, sc.site.Latency), healthy)
	}
	return res, nil
}

// countRecords counts the JSONL records and checks that the crawl recorded
// every page once, without error unless its host is failing on purpose, so
// a fast but incomplete crawl cannot pass.
func countRecords(r io.Reader, pages []string, healthy func(host string) bool) (int, error) {
	want := make(map[string]bool, len(pages))
	for _, p := range pages {
		want[p] = true
	}
	n := 0
	dec := json.NewDecoder(r)
	for dec.More() {
		var rec struct {
			URL   string `json:"url"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&rec); err != nil {
			return n, fmt.Errorf("bad record: %w", err)
		}
		u, err := url.Parse(rec.URL)
		if err != nil {
			return n, fmt.Errorf("bad record url %q", rec.URL)
		}
		if rec.Error != "" && healthy(u.Host) {
			return n, fmt.Errorf("error record: %s: %s", rec.URL, rec.Error)
		}
		if !want[rec.URL] {
			return n, fmt.Errorf("unexpected or repeated record for %s", rec.URL)
		}
		delete(want, rec.URL)
		n++
	}
	for p := range want {
		u, _ := url.Parse(p)
		if healthy(u.Host) {
			return n, fmt.Errorf("no record for %s", p)
		}
	}
	return n, nil
}

// dirSize returns the total size of the files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	return total, err
}
