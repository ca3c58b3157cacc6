package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// daemonProc is a `crawld run` child process (the test binary re-executed
// as crawld), with its admin address read from its start-up log line.
type daemonProc struct {
	cmd    *exec.Cmd
	admin  string
	mu     sync.Mutex
	stderr bytes.Buffer
	// drained is closed once stderr has been read to its end (the
	// process exited): exec.Cmd.Wait must not be called before, or it
	// closes the pipe under the reader and the last lines are lost.
	drained chan struct{}
}

// startDaemon runs `crawld run` with args and waits until its admin API is
// up. The process is killed at the end of the test if still running.
func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"run", "--admin-listen", "127.0.0.1:0", "--allow-cidr", "127.0.0.0/8"}, args...)...)
	cmd.Env = append(os.Environ(), "CRAWLD_TEST_AS_BINARY=1")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, drained: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(d.drained)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr.WriteString(line + "\n")
			d.mu.Unlock()
			var entry struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "crawld running" {
				addr <- entry.Admin
			}
		}
		close(addr)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			d.wait()
		}
	})
	a, ok := <-addr
	if !ok {
		d.wait()
		t.Fatalf("daemon exited before serving; stderr:\n%s", d.log())
	}
	d.admin = "http://" + a
	return d
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// wait waits for the process to exit, its stderr read to the end.
func (d *daemonProc) wait() {
	<-d.drained
	_ = d.cmd.Wait()
}

// stop sends sig and returns the exit code.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	d.wait()
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemonProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(d.admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type statusBody struct {
	State    string `json:"state"`
	Pages    int64  `json:"pages"`
	Frontier struct {
		Queued, InFlight int
	} `json:"frontier"`
	Uptime float64 `json:"uptime_seconds"`
	Digest string  `json:"config_digest"`
}

func (d *daemonProc) status(t *testing.T) statusBody {
	t.Helper()
	code, body := d.get(t, "/status")
	var st statusBody
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("/status: %d %q", code, body)
	}
	return st
}

// waitFor polls cond (each poll is a real request to the daemon) until it
// holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling an external process: no channel to wait on
	}
}

func TestDaemon_AdminAPIWhileCrawling(t *testing.T) {
	// Responses take 10 s, so that an API waiting for a worker would take
	// seconds, which a busy machine cannot make a request to it take.
	const latency = 10 * time.Second
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 50, Latency: latency})
	out := filepath.Join(t.TempDir(), "records.jsonl")
	// A seed on each host, without robots.txt: both workers are busy from
	// the start.
	args := append([]string{"--seed", site.SeedURL(), "--seed", site.PageURL(1, 0), "--robots=false", "--storage", "memory", "--rate", "0", "--workers", "2",
		"--per-host-concurrency", "2", "--output", out, "--admin-token", "t0ken", "--shutdown-grace", "60s"}, domainFlags(site)...)
	d := startDaemon(t, args...)

	waitFor(t, "workers busy", 30*time.Second, func() bool { return d.status(t).Frontier.InFlight == 2 })
	// Every worker is waiting on a 10 s response: the API must still answer.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/status"} {
		start := time.Now()
		code, body := d.get(t, path)
		if code != 200 {
			t.Errorf("%s: %d %q", path, code, body)
		}
		if took := time.Since(start); took > latency/2 {
			t.Errorf("%s took %v while the workers were busy: it waited for them", path, took)
		}
	}
	if _, body := d.get(t, "/metrics"); !strings.Contains(body, `crawld_pages_total{class="2xx"}`) || !strings.Contains(body, "crawld_frontier_queued") {
		t.Errorf("/metrics lacks crawld series:\n%.2000s", body)
	}
	if st := d.status(t); st.State != "crawling" || st.Digest == "" || st.Uptime <= 0 {
		t.Errorf("/status: %+v", st)
	}

	seed := func(token, body string) (int, string) {
		req, _ := http.NewRequest("POST", d.admin+"/seeds", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := seed("", `{"urls":["`+site.PageURL(1, 40)+`"]}`); code != 401 {
		t.Errorf("POST /seeds without the token: %d, want 401", code)
	}
	code, body := seed("t0ken", `{"urls":["`+site.PageURL(1, 40)+`","http://127.0.0.99/x","not a url"]}`)
	var answer struct {
		Results []struct {
			URL      string `json:"url"`
			Accepted bool   `json:"accepted"`
			Reason   string `json:"reason"`
		} `json:"results"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &answer) != nil || len(answer.Results) != 3 {
		t.Fatalf("POST /seeds: %d %q", code, body)
	}
	if r := answer.Results; !r[0].Accepted || r[1].Accepted || !strings.Contains(r[1].Reason, "domain") || r[2].Accepted {
		t.Errorf("seed results: %+v", r)
	}

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0; log:\n%s", code, d.log())
	}
	data, _ := os.ReadFile(out)
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) > 0 && !json.Valid(line) {
			t.Errorf("torn record after shutdown: %q", line)
		}
	}
	// The requests in flight at SIGTERM were let finish (10 s < shutdown_grace)
	// and recorded: every page request has its record.
	served := servedPages(site)
	if n := len(readRecords(t, data)); n != served || n == 0 {
		t.Errorf("records: %d, page requests served: %d; want one record per request", n, served)
	}
}

func TestDaemon_SIGHUPChangesRate(t *testing.T) {
	site := startSite(t, testsite.Config{PagesPerHost: 200})
	dir := t.TempDir()
	config := filepath.Join(dir, "crawld.yaml")
	write := func(rate int, level string) {
		yaml := fmt.Sprintf("seeds: [%s]\nrate: %d\nlog_level: %s\nstorage: memory\noutput: %s\n", site.SeedURL(), rate, level, filepath.Join(dir, "out.jsonl"))
		if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(2, "info")
	d := startDaemon(t, "--config", config)
	waitFor(t, "a few requests at rate 2", 30*time.Second, func() bool { return len(site.Requests()) >= 4 })
	write(20, "debug")
	reloadAt := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", 30*time.Second, func() bool { return strings.Contains(d.log(), "config reloaded") })
	waitFor(t, "requests at rate 20", 30*time.Second, func() bool { return len(site.Requests()) >= 40 })
	waitFor(t, "debug lines after the reload", 30*time.Second, func() bool { return strings.Contains(d.log(), `"msg":"fetched"`) })

	var before, after []time.Time
	for _, r := range site.Requests() {
		if r.At.Before(reloadAt) {
			before = append(before, r.At)
		} else {
			after = append(after, r.At)
		}
	}
	// Arrivals lag the crawler's starts by a time that varies with the
	// machine's load: testsite.PaceViolation allows one interval of it.
	if v := testsite.PaceViolation(before, 500*time.Millisecond, 500*time.Millisecond); v != "" {
		t.Errorf("before SIGHUP: %s (rate 2)", v)
	}
	// 20 requests a second after the reload: 30 requests in about 1.5 s.
	// At rate 2 they would span at least 14 s (28 intervals, one lag
	// allowed); 10 s leaves a busy machine room.
	if len(after) < 30 || after[29].Sub(after[0]) > 10*time.Second {
		t.Errorf("after SIGHUP: %d requests, the first 30 spanning %v; want rate 20", len(after), after[min(29, len(after)-1)].Sub(after[0]))
	}
	if v := testsite.PaceViolation(after, 50*time.Millisecond, 50*time.Millisecond); v != "" {
		t.Errorf("after SIGHUP: %s (rate 20)", v)
	}

	// A broken file is refused and the old config stays.
	if err := os.WriteFile(config, []byte("rate: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejected reload", 30*time.Second, func() bool { return strings.Contains(d.log(), "config reload rejected") })
	if code, _ := d.get(t, "/healthz"); code != 200 {
		t.Errorf("daemon unhealthy after a rejected reload")
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d; log:\n%s", code, d.log())
	}
}

// recordsByURL counts the records in a JSONL file by url.
func recordsByURL(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := make(map[string]int)
	for _, rec := range readRecords(t, data) {
		counts[rec["url"].(string)]++
	}
	return counts
}

func TestDaemon_ResumesAfterRestart(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		// how many pages may be fetched twice: none after a clean stop; after
		// kill -9 those in flight (one host, one request at a time).
		maxRefetched int
		wantExit     int
	}{
		{"SIGTERM", syscall.SIGTERM, 0, 0},
		{"kill -9", syscall.SIGKILL, 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := startSite(t, testsite.Config{PagesPerHost: 60, Latency: 10 * time.Millisecond})
			dir := t.TempDir()
			out := filepath.Join(dir, "records.jsonl")
			args := []string{"--seed", site.SeedURL(), "--storage", "pebble", "--data-dir", filepath.Join(dir, "state"),
				"--rate", "25", "--output", out}

			first := startDaemon(t, args...)
			waitFor(t, "a third of the site", 20*time.Second, func() bool { return first.status(t).Pages >= 20 })
			if code := first.stop(t, tt.sig); code != tt.wantExit {
				t.Errorf("first run exit code %d, want %d; log:\n%s", code, tt.wantExit, first.log())
			}
			fetchedBefore := len(site.Requests())

			second := startDaemon(t, args...)
			waitFor(t, "the crawl to finish", 30*time.Second, func() bool {
				st := second.status(t)
				return st.State == "idle"
			})
			if st := second.status(t); tt.sig == syscall.SIGTERM && st.Pages != int64(len(site.URLs())) {
				t.Errorf("pages counted across the restart: %d, want %d", st.Pages, len(site.URLs()))
			}
			if code := second.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("second run exit code %d; log:\n%s", code, second.log())
			}
			if len(site.Requests()) <= fetchedBefore {
				t.Fatalf("the second run fetched nothing")
			}

			refetched := 0
			for _, u := range site.URLs() {
				switch n := site.Count(u); {
				case n == 0:
					t.Errorf("%s never fetched: lost across the restart", u)
				case n > 1:
					refetched++
				}
			}
			if refetched > tt.maxRefetched {
				t.Errorf("%d pages fetched twice, want at most %d", refetched, tt.maxRefetched)
			}
			records := recordsByURL(t, out)
			if len(records) != len(site.URLs()) {
				t.Errorf("records cover %d URLs, want %d", len(records), len(site.URLs()))
			}
			for u, n := range records {
				if n > 1+tt.maxRefetched {
					t.Errorf("%s recorded %d times", u, n)
				}
			}
		})
	}
}

func TestDaemon_RecrawlGets304s(t *testing.T) {
	for _, storage := range []string{"memory", "pebble"} {
		t.Run(storage, func(t *testing.T) {
			site := startSite(t, testsite.Config{PagesPerHost: 8, ETags: true})
			dir := t.TempDir()
			out := filepath.Join(dir, "records.jsonl")
			d := startDaemon(t, "--seed", site.SeedURL(), "--storage", storage, "--data-dir", filepath.Join(dir, "state"),
				"--rate", "0", "--output", out, "--recrawl-interval", "300ms")
			statuses := func() map[string][]float64 {
				data, _ := os.ReadFile(out)
				by := make(map[string][]float64)
				for _, rec := range readRecords(t, data) {
					by[rec["url"].(string)] = append(by[rec["url"].(string)], rec["status"].(float64))
				}
				return by
			}
			waitFor(t, "a second round", 20*time.Second, func() bool {
				by := statuses()
				for _, u := range site.URLs() {
					if len(by[u]) < 2 {
						return false
					}
				}
				return true
			})
			if code := d.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d; log:\n%s", code, d.log())
			}
			for _, u := range site.URLs() {
				got := statuses()[u]
				if len(got) < 2 || got[0] != 200 || got[1] != 304 {
					t.Errorf("%s: statuses %v, want 200 then 304", u, got)
				}
			}
			if !strings.Contains(d.log(), "recrawl started") {
				t.Errorf("no recrawl logged:\n%s", d.log())
			}
		})
	}
}

func TestOpenRotatingOutput(t *testing.T) {
	dir := t.TempDir()
	s := defaultSettings()
	s.output = filepath.Join(dir, "records.jsonl")
	s.outputMaxSizeMB, s.outputMaxBackups = 1, 2
	w, err := openOutput(s.output, s.outputMaxSizeMB, s.outputMaxBackups, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range 3 * 1024 { // 3 MiB through a 1 MiB limit
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "records*.jsonl"))
	if len(files) != 3 {
		t.Errorf("files after writing 3 MiB with 1 MiB rotation and 2 backups: %v, want the current file and 2 backups", files)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 1<<20 {
			t.Errorf("%s: %v bytes, want <= 1 MiB", f, fi.Size())
		}
	}
	s.output = filepath.Join(dir, "missing", "dir", "out.jsonl")
	if _, err := openOutput(s.output, s.outputMaxSizeMB, s.outputMaxBackups, io.Discard); err == nil {
		t.Error("an output in a missing directory was accepted")
	}
}

func TestDaemon_SecondSignalExitsAtOnce(t *testing.T) {
	// The request in flight would hold the exit for the 60 s grace: exiting
	// within 20 s is at once, however busy the machine.
	site := startSite(t, testsite.Config{PagesPerHost: 20, Latency: 5 * time.Minute})
	dir := t.TempDir()
	args := []string{"--seed", site.SeedURL(), "--storage", "pebble", "--data-dir", filepath.Join(dir, "state"),
		"--rate", "0", "--output", filepath.Join(dir, "out.jsonl"), "--shutdown-grace", "60s", "--fetch-timeout", "5m"}
	d := startDaemon(t, args...)
	waitFor(t, "a request in flight", 20*time.Second, func() bool { return d.status(t).Frontier.InFlight > 0 })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stopping", 30*time.Second, func() bool { return strings.Contains(d.log(), "stopping") })
	start := time.Now()
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit code %d after a second signal; log:\n%s", code, d.log())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("exit took %v after the second signal, want at once (grace is 60 s, the request 5 min)", took)
	}
	// The store is intact: the same data_dir opens and the crawl goes on.
	again := startDaemon(t, args...)
	if st := again.status(t); st.Frontier.Queued+st.Frontier.InFlight == 0 {
		t.Errorf("the interrupted URL was lost: %+v", st)
	}
	again.stop(t, syscall.SIGKILL)
}

// max_pages_per_host is kept by the Pebble frontier, so a crawl killed and
// resumed goes on counting each host's pages where it stopped instead of
// granting every host its whole budget again. Pages link to 30 others, so
// a host's budget is all admitted long before the kill; the site counts
// the distinct pages each host served over both runs.
func TestDaemon_MaxPagesPerHostSurvivesRestart(t *testing.T) {
	const perHost = 12
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 80, LinksPerPage: 30, Latency: 10 * time.Millisecond})
	dir := t.TempDir()
	args := append([]string{"--seed", site.SeedURL(), "--storage", "pebble", "--data-dir", filepath.Join(dir, "state"),
		"--rate", "25", "--max-pages-per-host", fmt.Sprint(perHost), "--output", filepath.Join(dir, "records.jsonl")},
		domainFlags(site)...)

	first := startDaemon(t, args...)
	waitFor(t, "a few pages", 20*time.Second, func() bool { return first.status(t).Pages >= 4 })
	first.stop(t, syscall.SIGKILL)
	servedBefore := servedPerHost(site)

	second := startDaemon(t, args...)
	waitFor(t, "the crawl to finish", 30*time.Second, func() bool { return second.status(t).State == "idle" })
	if code := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("second run exit code %d; log:\n%s", code, second.log())
	}
	served := servedPerHost(site)
	for h := range site.Hosts() {
		if served[h] > perHost {
			t.Errorf("host %d served %d distinct pages over both runs (%d before the kill), want at most max_pages_per_host %d",
				h, served[h], servedBefore[h], perHost)
		}
	}
	if served[0] < perHost || served[1] == 0 {
		t.Errorf("distinct pages served per host %v: the crawl did not reach its budget", served)
	}
}

// servedPerHost counts the distinct pages each host of site served.
func servedPerHost(site *testsite.Site) map[int]int {
	served := make(map[int]int)
	for _, u := range site.URLs() {
		if h, _, ok := site.Page(u); ok && site.Count(u) > 0 {
			served[h]++
		}
	}
	return served
}
