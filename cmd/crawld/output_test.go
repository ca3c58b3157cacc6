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

	"github.com/crawld/crawld/crawler"
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
	go func() { full.wait(); close(exited) }()
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

// TestOutput_SinkSyncsOnlyWhatCanBeDurable: the sink is a crawler.Syncer
// only for a file with a durable frontier, and always a crawler.Flusher;
// writes through it land in the file, rotated or not, once flushed (as
// the crawler flushes before it syncs), and Close syncs what is left.
func TestOutput_SinkSyncsOnlyWhatCanBeDurable(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		path       string
		maxSizeMB  int
		durable    bool
		wantSyncer bool
	}{
		{"file, durable frontier", filepath.Join(dir, "a.jsonl"), 0, true, true},
		{"rotated file, durable frontier", filepath.Join(dir, "b.jsonl"), 1, true, true},
		{"file, memory frontier", filepath.Join(dir, "c.jsonl"), 0, false, false},
		{"stdout", "-", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			out, err := openOutput(tc.path, tc.maxSizeMB, 1, &stdout)
			if err != nil {
				t.Fatal(err)
			}
			sink := out.sink(tc.durable)
			syncer, ok := sink.(crawler.Syncer)
			if ok != tc.wantSyncer {
				t.Fatalf("sink is a Syncer: %v, want %v", ok, tc.wantSyncer)
			}
			if err := sink.Write(crawler.Record{URL: "https://example.com/"}); err != nil {
				t.Fatal(err)
			}
			flusher, isFlusher := sink.(crawler.Flusher)
			if !isFlusher {
				t.Fatal("sink is not a Flusher")
			}
			if err := flusher.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if ok {
				if err := syncer.Sync(); err != nil {
					t.Fatalf("Sync: %v", err)
				}
			}
			if err := out.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			data := stdout.Bytes()
			if tc.path != "-" {
				if data, err = os.ReadFile(tc.path); err != nil {
					t.Fatal(err)
				}
			}
			if recs := readRecords(t, data); len(recs) != 1 || recs[0]["url"] != "https://example.com/" {
				t.Errorf("output holds %v, want the one record", recs)
			}
		})
	}
}

// BenchmarkOutputFile measures records written by 64 concurrent writers,
// each waiting for its record to be durable (Sync, a group commit) or not:
// the cost of the fsync before Done. For example:
//
//	go test ./cmd/crawld -run '^$' -bench OutputFile -benchtime 20000x
func BenchmarkOutputFile(b *testing.B) {
	rec := crawler.Record{URL: "http://127.0.0.2:40123/page/1", FinalURL: "http://127.0.0.2:40123/page/1", Status: 200,
		ContentType: "text/html; charset=utf-8", Bytes: 748, Links: 6, FetchedAt: time.Now(), DurationMS: 20}
	for _, durable := range []bool{false, true} {
		b.Run(map[bool]string{false: "write", true: "write+sync"}[durable], func(b *testing.B) {
			out, err := openOutput(filepath.Join(b.TempDir(), "out.jsonl"), 100, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			sink := out.sink(durable)
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := sink.Write(rec); err != nil {
						b.Error(err)
						return
					}
					if s, ok := sink.(crawler.Syncer); ok {
						if err := s.Sync(); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
		})
	}
}

// TestOutputFile_SyncFailureIsSticky: once an fsync failed, the kernel may
// have dropped the records it could not write, so every later Sync and
// Write fails too (here the file is closed behind the output's back, so
// its fsync fails).
func TestOutputFile_SyncFailureIsSticky(t *testing.T) {
	o, err := openOutputFile(filepath.Join(t.TempDir(), "out.jsonl"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	_ = o.file.Close()
	err = o.Sync()
	if err == nil || !strings.HasPrefix(err.Error(), "sync ") {
		t.Fatalf("Sync on a broken file = %v, want a sync error", err)
	}
	if _, werr := o.Write([]byte("{}\n")); werr != err {
		t.Errorf("Write after a failed sync = %v, want %v", werr, err)
	}
	if serr := o.Sync(); serr != err {
		t.Errorf("second Sync = %v, want %v", serr, err)
	}
}
