package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/crawld/crawld/internal/testsite"
)

// TestMain doubles as the crawld binary when CRAWLD_TEST_AS_BINARY is set,
// so signal handling can be tested on a real process without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("CRAWLD_TEST_AS_BINARY") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	// lumberjack starts one goroutine per Logger on its first rotation and
	// never stops it (Close does not); the daemon has one Logger per process.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}

func startSite(t *testing.T, cfg testsite.Config) *testsite.Site {
	t.Helper()
	site, err := testsite.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(site.Close)
	return site
}

func domainFlags(site *testsite.Site) []string {
	var args []string
	for _, host := range site.Domains() {
		args = append(args, "--allow-domain", host)
	}
	return args
}

// readRecords parses a JSONL file, failing on any line that is not a whole record.
// crawlRecords runs crawld with args, failing the test unless it
// succeeds writing nothing to stdout, and returns the records it wrote to
// out (its --output FILE).
func crawlRecords(t *testing.T, out string, args []string) []map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout should be empty with --output FILE, got %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return readRecords(t, data)
}

func readRecords(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad JSONL line %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestRun_CrawlWritesJSONL(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 5, Decoys: true})
	out := filepath.Join(t.TempDir(), "out.jsonl")
	args := append([]string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--output", out, "--log-level", "warn", "--allow-cidr", "127.0.0.0/8"}, domainFlags(site)...)
	recs := crawlRecords(t, out, args)
	if len(recs) != 10 {
		t.Errorf("records: got %d, want 10", len(recs))
	}
	wantFields := []string{"url", "final_url", "status", "depth", "content_type", "bytes", "links", "fetched_at", "duration_ms"}
	for _, rec := range recs {
		for _, f := range wantFields {
			if _, ok := rec[f]; !ok {
				t.Errorf("record lacks %q: %v", f, rec)
			}
		}
		if _, err := time.Parse(time.RFC3339, rec["fetched_at"].(string)); err != nil {
			t.Errorf("fetched_at is not RFC 3339: %v", err)
		}
	}
}

func TestRun_Precedence(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 20})
	config := filepath.Join(t.TempDir(), "crawld.yaml")
	yaml := "seeds: [" + site.SeedURL() + "]\nmax_pages: 5\nrate: 0\nlog_level: warn\nallow_cidrs: [127.0.0.0/8]\n"
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   string
		flags []string
		want  int
	}{
		{"file", "", nil, 5},
		{"env over file", "4", nil, 4},
		{"flag over env", "4", []string{"--max-pages", "3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("CRAWLD_MAX_PAGES", tt.env)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"crawl", "--config", config}, tt.flags...)
			if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
			}
			if got := len(readRecords(t, stdout.Bytes())); got != tt.want {
				t.Errorf("records: got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRun_ConfigErrorsExit2NamingTheKey(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		args    []string
		wantKey string
	}{
		{name: "missing seed", args: nil, wantKey: "seeds"},
		{name: "unknown key", yaml: "seeds: [http://127.0.0.2/]\nmax_pagez: 3\n", wantKey: "max_pagez"},
		{name: "bad value in file", yaml: "seeds: [http://127.0.0.2/]\nmax_pages: lots\n", wantKey: "max_pages"},
		{name: "bad value in env", env: map[string]string{"CRAWLD_RATE": "fast"}, args: []string{"--seed", "http://127.0.0.2/"}, wantKey: "rate"},
		{name: "negative flag", args: []string{"--seed", "http://127.0.0.2/", "--max-depth", "-1"}, wantKey: "max_depth"},
		{name: "bad size", args: []string{"--seed", "http://127.0.0.2/", "--max-body", "ten"}, wantKey: "max_body"},
		{name: "bad log level", args: []string{"--seed", "http://127.0.0.2/", "--log-level", "loud"}, wantKey: "log_level"},
		{name: "bad domain", args: []string{"--seed", "http://127.0.0.2/", "--allow-domain", "a/b"}, wantKey: "allow_domains"},
		{name: "bad cidr", args: []string{"--seed", "http://127.0.0.2/", "--allow-cidr", "10.0.0.0/33"}, wantKey: "allow_cidrs"},
		{name: "unknown flag", args: []string{"--bogus"}, wantKey: "--bogus"},
		{name: "broken yaml", yaml: "seeds: [http://127.0.0.2/\n", wantKey: "config"},
		{name: "bad warc size", args: []string{"--seed", "http://127.0.0.2/", "--warc-max-size", "0"}, wantKey: "warc.max_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"crawl"}, tt.args...)
			if tt.yaml != "" {
				config := filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(config, []byte(tt.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", config)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			msg := stderr.String()
			if code != exitUsage {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, exitUsage, msg)
			}
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.wantKey) {
				t.Errorf("stderr should be one line naming %q, got %q", tt.wantKey, msg)
			}
		})
	}
}

// TestExampleConfigMatchesDefaults keeps configs/crawld.yaml honest: loading
// it must give exactly the built-in defaults.
func TestExampleConfigMatchesDefaults(t *testing.T) {
	fs := pflag.NewFlagSet("crawl", pflag.ContinueOnError)
	defineFlags(fs)
	if err := fs.Parse([]string{"--config", "../../configs/crawld.yaml", "--seed", "http://127.0.0.2/"}); err != nil {
		t.Fatal(err)
	}
	got, err := loadSettings(fs)
	if err != nil {
		t.Fatalf("loading configs/crawld.yaml: %v", err)
	}
	want := defaultSettings()
	want.crawl.Seeds = []string{"http://127.0.0.2/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("configs/crawld.yaml differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestRun_SIGTERMFlushesAndExits143(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 500, Latency: 10 * time.Millisecond})
	cmd := exec.Command(os.Args[0], "crawl", "--seed", site.SeedURL(), "--rate", "0", "--workers", "2", "--log-level", "warn", "--allow-cidr", "127.0.0.0/8")
	cmd.Env = append(os.Environ(), "CRAWLD_TEST_AS_BINARY=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	for i := 0; i < 3 && sc.Scan(); i++ { // the crawl is under way once records flow
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("exit code: got %d (%v), want 143; stderr: %s", code, err, stderr.String())
	}
	recs := readRecords(t, out.Bytes())
	if len(recs) < 3 || len(recs) >= 500 {
		t.Errorf("records: got %d, want the ones fetched before SIGTERM (3..499)", len(recs))
	}
}

func TestRun_LogsFetchesProgressAndSummary(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 10, Latency: 20 * time.Millisecond})
	args := []string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--log-level", "debug", "--progress-interval", "10ms", "--allow-cidr", "127.0.0.0/8"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	wantFields := map[string][]string{
		"fetched":        {"url", "host", "status", "duration_ms", "depth"},
		"progress":       {"pages", "errors", "frontier", "hosts_waiting", "pages_per_sec"},
		"crawl finished": {"pages", "errors", "bytes", "elapsed", "pages_per_sec"},
	}
	seen := make(map[string]int)
	for _, line := range readRecords(t, stderr.Bytes()) { // every log line is a JSON object
		msg, _ := line["msg"].(string)
		fields, ok := wantFields[msg]
		if !ok {
			continue
		}
		seen[msg]++
		for _, f := range fields {
			if _, ok := line[f]; !ok {
				t.Errorf("%q log line lacks %q: %v", msg, f, line)
			}
		}
	}
	if seen["fetched"] != 10 || seen["progress"] == 0 || seen["crawl finished"] != 1 {
		t.Errorf("log lines by message: %v; want 10 fetched, some progress, 1 crawl finished", seen)
	}
}

func TestRun_Profiles(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 5})
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	args := []string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--log-level", "error", "--allow-cidr", "127.0.0.0/8",
		"--cpuprofile", cpu, "--memprofile", mem}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	for _, p := range []string{cpu, mem} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", p, err)
		}
	}
}

// TestRun_FrontierSpills crawls with a frontier memory limit far below the
// queue's size: queued URLs spill to a scratch directory under data_dir, every
// page is still fetched exactly once (server-side count), and the scratch
// directory is gone when crawld exits.
func TestRun_FrontierSpills(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 300, LinksPerPage: 5, Latency: time.Millisecond})
	dataDir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	args := append([]string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--output", out, "--allow-cidr", "127.0.0.0/8",
		"--frontier-memory-limit", "2KiB", "--data-dir", dataDir, "--progress-interval", "20ms"}, domainFlags(site)...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data)
	urls := map[string]bool{}
	for _, rec := range recs {
		if rec["status"] != float64(200) {
			t.Errorf("record %v, want status 200", rec)
		}
		urls[rec["url"].(string)] = true
	}
	if len(recs) != 900 || len(urls) != 900 {
		t.Errorf("%d records for %d URLs, want 900 of 900", len(recs), len(urls))
	}
	pages := pageRequests(site)
	for p, n := range pages {
		if n != 1 {
			t.Errorf("%s requested %d times", p, n)
		}
	}
	if len(pages) != 900 {
		t.Errorf("%d pages requested, want 900", len(pages))
	}
	if !regexp.MustCompile(`"spilled":[1-9]`).Match(stderr.Bytes()) {
		t.Errorf("no progress line shows spilled URLs; stderr:\n%s", stderr.String())
	}
	left, err := filepath.Glob(filepath.Join(dataDir, "spill-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("scratch directories left in data_dir: %v (%v)", left, err)
	}
}
