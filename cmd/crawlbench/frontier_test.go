package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/testsite"
)

// TestFrontierScenarios checks, without crawling, that the frontier
// scenarios are what they claim: at least 2M URLs all fetched with crawld's
// defaults, and the two runs differing in the memory limit alone.
func TestFrontierScenarios(t *testing.T) {
	byName := map[string]scenario{}
	for _, sc := range scenarios() {
		byName[sc.name] = sc
		long := strings.HasPrefix(sc.name, "frontier") || strings.HasPrefix(sc.name, "cluster-")
		if long != sc.onRequest {
			t.Errorf("%s: onRequest = %v; only the frontier and cluster scenarios are that long", sc.name, sc.onRequest)
		}
	}
	bounded, unbounded := byName["frontier"], byName["frontier-unbounded"]
	if !reflect.DeepEqual(bounded.site, unbounded.site) {
		t.Errorf("the frontier scenarios crawl different sites: %+v and %+v", bounded.site, unbounded.site)
	}
	if v, _ := flagValue(bounded.args, "--frontier-memory-limit"); v != "256MiB" {
		t.Errorf("frontier: --frontier-memory-limit %q, want 256MiB", v)
	}
	if v, _ := flagValue(unbounded.args, "--frontier-memory-limit"); v != "0" {
		t.Errorf("frontier-unbounded: --frontier-memory-limit %q, want 0", v)
	}
	if bounded.maxRSS != 512<<20 || unbounded.maxRSS != 0 {
		t.Errorf("RSS goals %d and %d, want 512 MiB for the bounded run only", bounded.maxRSS, unbounded.maxRSS)
	}
	defaults := crawler.DefaultConfig()
	for _, sc := range []scenario{bounded, unbounded} {
		site := sc.site
		if !site.CountOnly || site.Hubs <= 0 || site.Hosts > testsite.MaxHosts {
			t.Errorf("%s: site %+v is not a count-only fan-out", sc.name, site)
		}
		if leaves := site.Hosts * site.Hubs * site.LeavesPerHub; leaves < 2_000_000 {
			t.Errorf("%s: %d leaves, want at least 2,000,000", sc.name, leaves)
		}
		if sc.rate != 0 || sc.durable {
			t.Errorf("%s: rate %v, durable %v; want unlimited and in memory", sc.name, sc.rate, sc.durable)
		}
		if _, ok := flagValue(sc.args, "--max-pages"); ok {
			t.Errorf("%s: --max-pages set; the crawl must fetch every URL", sc.name)
		}
		if w, c := intFlag(t, sc.args, "--workers", 0), intFlag(t, sc.args, "--per-host-concurrency", 0); w != 64 || c != 16 {
			t.Errorf("%s: %d workers, %d per host; want 64 and 16", sc.name, w, c)
		}
		// crawld's caps would silently leave URLs undiscovered, and the
		// frontier smaller than the scenario says.
		perHost := 1 + site.Hubs*(1+site.LeavesPerHub)
		if limit := intFlag(t, sc.args, "--max-pages-per-host", defaults.MaxPagesPerHost); limit > 0 && perHost > limit {
			t.Errorf("%s: %d pages per host, over max_pages_per_host %d", sc.name, perHost, limit)
		}
		if limit := intFlag(t, sc.args, "--max-links-per-page", defaults.MaxLinksPerPage); limit > 0 && max(site.Hubs+1, site.LeavesPerHub) > limit {
			t.Errorf("%s: pages of %d and %d links, over max_links_per_page %d", sc.name, site.Hubs+1, site.LeavesPerHub, limit)
		}
	}
	// The site must start: Start validates the shape, and serving it
	// stores nothing per page, so this is cheap whatever its size.
	s, err := testsite.Start(bounded.site)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := len(s.Links(s.PageURL(0, 1))), bounded.site.LeavesPerHub; got != want {
		t.Errorf("a hub has %d links, want %d", got, want)
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{line: func(l []byte) { lines = append(lines, string(l)) }}
	for _, chunk := range []string{"a", "b\nc", "\n\nd\ne", "f"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	w.flush()
	if want := []string{"ab", "c", "", "d", "ef"}; !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}

// fanOutSite starts a small fan-out site for checking records.
func fanOutSite(t *testing.T) *testsite.Site {
	t.Helper()
	s, err := testsite.Start(testsite.Config{Hosts: 2, Hubs: 2, LeavesPerHub: 3, CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func jsonl(t *testing.T, urls []string, errs map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range urls {
		line, err := json.Marshal(map[string]any{"url": u, "status": 200, "error": errs[u]})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRecordChecker(t *testing.T) {
	s := fanOutSite(t)
	urls := s.URLs()
	check := func(out string) (int, error) {
		c := newRecordChecker(s)
		w := &lineWriter{line: c.record}
		// Odd-sized writes split records, as a pipe does.
		for len(out) > 0 {
			n := min(7, len(out))
			w.Write([]byte(out[:n]))
			out = out[n:]
		}
		w.flush()
		return c.done()
	}
	if n, err := check(jsonl(t, urls, nil)); n != len(urls) || err != nil {
		t.Errorf("complete crawl: %d, %v; want %d records", n, err, len(urls))
	}
	shuffled := slices.Clone(urls)
	slices.Reverse(shuffled)
	if n, err := check(jsonl(t, shuffled, nil)); n != len(urls) || err != nil {
		t.Errorf("any order: %d, %v", n, err)
	}
	leaf := s.PageURL(1, s.Config().PagesPerHost-1)
	for name, out := range map[string]string{
		"missing":       jsonl(t, urls[1:], nil),
		"repeated":      jsonl(t, append(slices.Clone(urls), urls[3]), nil),
		"error":         jsonl(t, urls, map[string]string{leaf: "connection reset"}),
		"foreign":       jsonl(t, append(slices.Clone(urls), "http://example.com/"), nil),
		"not canonical": jsonl(t, append(slices.Clone(urls[1:]), urls[0]+"#top"), nil),
		"truncated":     strings.TrimSuffix(jsonl(t, urls, nil), "}\n"),
	} {
		if _, err := check(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProgressWatcher(t *testing.T) {
	var forwarded bytes.Buffer
	p := &progressWatcher{forward: &forwarded, dataDir: t.TempDir()}
	w := &lineWriter{line: p.line}
	lines := []string{
		`{"level":"info","ts":"2026-01-01T00:00:00Z","msg":"crawl starting"}`,
		`{"level":"info","msg":"progress","pages":10,"frontier":1500,"spilled":0}`,
		`{"level":"warn","msg":"host set aside","host":"a"}`,
		`{"level":"info","msg":"progress","pages":900,"frontier":2000000,"spilled":600000}`,
		`{"level":"info","msg":"progress","pages":5000,"frontier":12,"spilled":3}`,
		`Error: unknown flag: --frontier-memory-limit`,
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	w.flush()
	if !p.seen || p.peak.queued != 2_000_000 || p.peak.spilled != 600_000 {
		t.Errorf("peak %+v (seen %v); want 2000000 queued, 600000 spilled", p.peak, p.seen)
	}
	if want := lines[2] + "\n" + lines[5] + "\n"; forwarded.String() != want {
		t.Errorf("forwarded %q, want %q", forwarded.String(), want)
	}

	// A frontier that cannot report its size leaves the column empty
	// rather than claiming a peak of 0.
	p = &progressWatcher{forward: &forwarded}
	p.line([]byte(`{"level":"info","msg":"progress","pages":10}`))
	if p.seen {
		t.Error("progress without a frontier size counted")
	}
}
