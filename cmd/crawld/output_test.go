package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// fullDevice is a real ENOSPC device on Linux: every write to it fails
// with "no space left on device".
const fullDevice = "/dev/full"

func needFullDevice(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(fullDevice); err != nil {
		t.Skipf("%s: %v", fullDevice, err)
	}
}

// TestRun_FullDiskStopsCrawlAndKeepsItsWork: `crawld crawl` whose output
// cannot be written exits 1 naming the error, having marked nothing done,
// and a rerun on the same store with a working output records every page.
func TestRun_FullDiskStopsCrawlAndKeepsItsWork(t *testing.T) {
	needFullDevice(t)
	site := startSite(t, testsite.Config{PagesPerHost: 5})
	dir := t.TempDir()
	args := append([]string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--log-level", "error", "--allow-cidr", "127.0.0.0/8",
		"--storage", "pebble", "--data-dir", filepath.Join(dir, "state")}, domainFlags(site)...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(args, "--output", fullDevice), &stdout, &stderr); code != exitRuntime {
		t.Fatalf("crawl to a full disk: exit code %d, want %d; stderr: %s", code, exitRuntime, stderr.String())
	}
	if want := "crawld: output: write record: write /dev/full: no space left on device"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", stderr.String(), want)
	}

	out := filepath.Join(dir, "out.jsonl")
	stderr.Reset()
	if code := run(context.Background(), append(args, "--output", out), &stdout, &stderr); code != exitOK {
		t.Fatalf("rerun: exit code %d; stderr: %s", code, stderr.String())
	}
	records := recordsByURL(t, out)
	for _, u := range site.URLs() {
		if records[u] != 1 {
			t.Errorf("%s recorded %d times after the rerun, want once", u, records[u])
		}
	}
}

// TestDaemon_FullDiskStopsAndRestartRefetches: `crawld run` whose output
// cannot be written stops by itself with exit 1 and the error in its log;
// restarted with a working output it records every page.
func TestDaemon_FullDiskStopsAndRestartRefetches(t *testing.T) {
	needFullDevice(t)
	site := startSite(t, testsite.Config{PagesPerHost: 5})
	dir := t.TempDir()
	args := []string{"--seed", site.SeedURL(), "--storage", "pebble", "--data-dir", filepath.Join(dir, "state"), "--rate", "0"}

	full := startDaemon(t, append(args, "--output", fullDevice)...)
	exited := make(chan struct{})
	go func() { _ = full.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon did not stop on a full disk; log:\n%s", full.log())
	}
	if code := full.cmd.ProcessState.ExitCode(); code != exitRuntime {
		t.Errorf("exit code %d, want %d", code, exitRuntime)
	}
	if want := "output: write record: write /dev/full: no space left on device"; !strings.Contains(full.log(), want) {
		t.Errorf("log does not say %q:\n%s", want, full.log())
	}

	out := filepath.Join(dir, "out.jsonl")
	second := startDaemon(t, append(args, "--output", out)...)
	waitFor(t, "the crawl to finish", 60*time.Second, func() bool { return second.status(t).State == "idle" })
	if code := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("second run exit code %d; log:\n%s", code, second.log())
	}
	records := recordsByURL(t, out)
	for _, u := range site.URLs() {
		if records[u] != 1 {
			t.Errorf("%s recorded %d times after the restart, want once", u, records[u])
		}
	}
}
