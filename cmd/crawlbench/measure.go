// Running and measuring: one crawld process against the loopback site,
// what it measured (result) and the check that it recorded every page.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// result is what one crawl measured.
type result struct {
	pages        int           // records written
	wall         time.Duration // the whole crawl
	healthyDone  time.Duration // until the last request to a host that is not Unavailable
	bound        time.Duration // simulated finish of the healthy hosts on a fully healthy site
	boundWithout time.Duration // the same when the Unavailable hosts yield no links
	cpu          time.Duration // summed over the nodes
	peakRSS      int64         // bytes; the largest node's
	busiest      int           // most requests any host received within 1 s
	gaps         requestGaps   // how closely the site's hosts were requested
	storeBytes   int64         // size of the embedded store after the crawl; 0 without one
	warcBytes    int64         // size of the WARC files written; 0 without them
	noLog        bool          // the site kept no request log: no finish time or busiest window
	frontier     *frontierPeak // nil when crawld did not report its frontier
	// The cluster's: records by node (nil without Redis), the nodes' peak
	// RSS summed, and what Redis did during the crawl (nil without Redis).
	perNode []int
	rssSum  int64
	redis   *redisUsage
}

// pagesPerSecond is the crawl's pages per second of wall time.
func (r result) pagesPerSecond() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.pages) / r.wall.Seconds()
}

// measureScenario measures sc the way its site needs: a hostile site of
// crawlbench's own, a cluster on Redis, a count-only site, or measure.
func measureScenario(ctx context.Context, binary string, sc scenario) (result, error) {
	switch {
	case sc.hostile != nil:
		return sc.hostile(ctx, binary)
	case sc.nodes > 0:
		return measureCluster(ctx, binary, sc)
	case sc.site.CountOnly:
		// A count-only site keeps no request log for measure to read.
		return measureFrontier(ctx, binary, sc)
	}
	return measure(ctx, binary, sc)
}

// measure runs one crawld on sc's site, its records buffered in memory and
// checked, and measures it, with what the site's log tells (judgeSite).
func measure(ctx context.Context, binary string, sc scenario) (result, error) {
	site, err := testsite.Start(sc.site)
	if err != nil {
		return result{}, err
	}
	defer site.Close()
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
	var warcDir string
	if sc.warc {
		if warcDir, err = os.MkdirTemp("", "crawlbench-warc"); err != nil {
			return result{}, err
		}
		defer os.RemoveAll(warcDir)
		args = append(args, "--warc-dir", warcDir)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CRAWLD_ALLOW_DOMAINS="+strings.Join(site.Domains(), " "))
	var records bytes.Buffer
	cmd.Stdout = &records
	cmd.Stderr = os.Stderr
	res, start, err := runCrawld(cmd, nil)
	if err != nil {
		return result{}, err
	}
	res.rssSum = res.peakRSS
	if dataDir != "" {
		if res.storeBytes, err = dirSize(dataDir); err != nil {
			return result{}, err
		}
	}
	if warcDir != "" {
		if res.warcBytes, err = dirSize(warcDir); err != nil {
			return result{}, err
		}
	}
	if res.pages, err = countRecords(&records, site.URLs(), healthyHosts(site, sc)); err != nil {
		return result{}, err
	}
	judgeSite(site, sc, start, &res)
	return res, nil
}

// runCrawld runs cmd, a crawld, to its end and measures it: the wall time
// from its start, its CPU time and its peak RSS (see meteredProc). exited,
// if not nil, is called as soon as crawld has exited, whether it failed or
// not, to flush what its output left.
func runCrawld(cmd *exec.Cmd, exited func()) (res result, start time.Time, err error) {
	start = time.Now()
	proc, err := startMetered(cmd)
	if err != nil {
		return result{}, start, fmt.Errorf("crawld: %w", err)
	}
	err = proc.wait()
	if exited != nil {
		exited()
	}
	if err != nil {
		return result{}, start, fmt.Errorf("crawld: %w", err)
	}
	res = result{wall: time.Since(start), cpu: proc.cpu()}
	if res.peakRSS, err = proc.peakRSS(); err != nil {
		return result{}, start, err
	}
	return res, start, nil
}

// healthyHosts reports whether a host ("ip:port") of the site is not one of
// the scenario's Unavailable hosts.
func healthyHosts(site *testsite.Site, sc scenario) func(host string) bool {
	failing := make(map[string]bool)
	for _, h := range sc.site.Unavailable {
		failing[site.Hosts()[h]] = true
	}
	return func(host string) bool { return !failing[host] }
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
	return walkSize(dir, false)
}

// walkSize sums the sizes of the files under dir. With live, dir may change
// while it is walked: an entry that cannot be read counts as empty instead
// of ending the walk with its error.
func walkSize(dir string, live bool) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			var info fs.FileInfo
			if info, err = d.Info(); err == nil {
				total += info.Size()
			}
		}
		if live {
			return nil
		}
		return err
	})
	return total, err
}
