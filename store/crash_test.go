package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
)

// crashSink writes JSONL records to a file on a vfs.FS and fsyncs it on
// Sync, as crawld's output file does, and asks for a crash clone every
// tenth record.
type crashSink struct {
	*crawler.JSONLSink
	file  vfs.File
	n     atomic.Int64
	crash chan<- struct{}
}

var _ crawler.Syncer = (*crashSink)(nil)

func (s *crashSink) Write(r crawler.Record) error {
	if err := s.JSONLSink.Write(r); err != nil {
		return err
	}
	if s.n.Add(1)%10 == 0 {
		select {
		case s.crash <- struct{}{}:
		default: // a clone is being taken
		}
	}
	return nil
}

func (s *crashSink) Sync() error { return s.file.Sync() }

// TestCrash_DoneOnlyAfterRecordDurable crawls a site with the store and the
// output file on one crashable in-memory file system, and clones it as a
// machine crash would leave it at points during the crawl: only what was
// fsynced, or that plus a random half of the unsynced blocks (the kernel
// writes dirty pages back in any order, the write-ahead log's before the
// output's or after). The clone is taken with every write to the file
// system held, so the store and the output are seen at one instant. In
// every clone, each URL the store holds as done (seen, no longer queued)
// must have its record in the output.
func TestCrash_DoneOnlyAfterRecordDurable(t *testing.T) {
	site, err := testsite.Start(testsite.Config{Hosts: 3, PagesPerHost: 40, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	fs := vfs.NewCrashableMem()
	const state, out = "/state", "/out.jsonl"
	f, err := open(fs, state, unlimited, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	file, err := fs.Create(out, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	root, err := fs.OpenDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sync(); err != nil {
		t.Fatal(err)
	}
	_ = root.Close()

	crash := make(chan struct{})
	var (
		clones []*vfs.MemFS
		cloned sync.WaitGroup
	)
	cloned.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for range crash {
			cfg := vfs.CrashCloneCfg{}
			if len(clones)%2 == 1 {
				cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}
			}
			clones = append(clones, fs.CrashClone(cfg))
		}
	})

	cfg := crawler.DefaultConfig()
	cfg.Seeds = []string{site.SeedURL()}
	cfg.Rate, cfg.Workers, cfg.ProgressInterval = 0, 8, 0
	cfg.Sitemaps = false
	cfg.AllowCIDRs = []string{"127.0.0.0/8"}
	cfg.AllowDomains = site.Domains()
	sink := &crashSink{JSONLSink: crawler.NewJSONLSink(file), file: file, crash: crash}
	c, err := crawler.New(cfg, f, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	close(crash)
	cloned.Wait()
	mustClose(t, f)
	_ = file.Close()

	doneSeen := 0
	for i, clone := range clones {
		done := doneURLs(t, clone, state)
		recorded := recordedURLs(t, clone, out)
		for _, u := range done {
			if !recorded[u] {
				t.Errorf("crash %d: %s is done in the store, but its record is not in the output", i, u)
			}
		}
		doneSeen += len(done)
	}
	if doneSeen == 0 {
		t.Errorf("no URL was done in any of %d crash clones: the test proved nothing", len(clones))
	}
	t.Logf("%d crash clones, %d done URLs checked", len(clones), doneSeen)
}

// doneURLs opens the store in dir on fs, as a restart after the crash
// would, and returns the URLs it holds as done: seen and no longer queued.
func doneURLs(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	f, err := open(fs, dir, unlimited, time.Hour, nil)
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer mustClose(t, f)
	queued := make(map[string]bool)
	for _, it := range queuedURLs(t, f) {
		queued[it] = true
	}
	var done []string
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixSeen), UpperBound: prefixEnd(prefixSeen)})
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Close()
	for iter.First(); iter.Valid(); iter.Next() {
		if u := string(iter.Key()[len(prefixSeen):]); !queued[u] {
			done = append(done, u)
		}
	}
	return done
}

// queuedURLs returns the URLs of the queue entries on disk.
func queuedURLs(t *testing.T, f *Frontier) []string {
	t.Helper()
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixQueue), UpperBound: prefixEnd(prefixQueue)})
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Close()
	var urls []string
	for iter.First(); iter.Valid(); iter.Next() {
		it, err := pebbleq.DecodeItem(iter.Value())
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, it.URL)
	}
	return urls
}

// recordedURLs returns the URLs of the whole records in the output file on
// fs; a torn or zeroed line (unsynced blocks) is skipped.
func recordedURLs(t *testing.T, fs vfs.FS, name string) map[string]bool {
	t.Helper()
	urls := make(map[string]bool)
	file, err := fs.Open(name)
	if err != nil {
		return urls // the crash came before the output's directory entry was durable
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var rec crawler.Record
		if json.Unmarshal(line, &rec) == nil && rec.URL != "" {
			urls[rec.URL] = true
		}
	}
	return urls
}

// crashChild is the child process of TestCrash. It opens the store, Adds 50
// items, Gets 10 without Done, Dones 5 of them and prints their URLs, then
// ends without Close: with os.Exit ("exit") or by waiting for the parent's
// SIGKILL ("kill").
func crashChild(arg string) int {
	mode, dir, _ := strings.Cut(arg, " ")
	f, err := Open(dir, unlimited)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	for i := range 50 {
		if a, err := f.Add(ctx, item(fmt.Sprintf("h%d", i%10), i), 0); err != nil || a != queue.Added {
			fmt.Fprintln(os.Stderr, "add:", a, err)
			return 2
		}
	}
	var got []queue.Item
	for range 10 {
		it, err := f.Get(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			return 2
		}
		got = append(got, it)
	}
	for _, it := range got[:5] {
		f.Done(it)
		fmt.Println("done", it.URL)
	}
	fmt.Println("ready")
	if mode == "kill" {
		time.Sleep(time.Minute) // the parent kills us long before
		return 3
	}
	return 0 // os.Exit without Close
}

// TestCrash ends a process that has the store open without Close, by exit
// and by SIGKILL, and reopens the store: the 40 items never handed out and
// the 5 in flight are queued, the 5 Done are not, and all 50 URLs are seen.
func TestCrash(t *testing.T) {
	for _, mode := range []string{"exit", "kill"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+mode+" "+dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := map[string]bool{}
			sc := bufio.NewScanner(out)
			ready := false
			for !ready && sc.Scan() {
				line := sc.Text()
				switch {
				case line == "ready":
					ready = true
				case strings.HasPrefix(line, "done "):
					done[strings.TrimPrefix(line, "done ")] = true
				}
			}
			if !ready {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("child did not get ready")
			}
			if mode == "kill" {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			err = cmd.Wait()
			if mode == "exit" && err != nil {
				t.Fatalf("child: %v", err)
			}
			if len(done) != 5 {
				t.Fatalf("child reported %d items Done, want 5", len(done))
			}

			f := mustOpen(t, dir, unlimited)
			defer mustClose(t, f)
			if s := f.Stats(); s.Queued != 45 || s.Seen != 50 {
				t.Fatalf("after the crash: %+v, want 45 queued, 50 seen", s)
			}
			got := map[string]int{}
			for _, it := range drain(t, f) {
				got[it.URL]++
			}
			for i := range 50 {
				it := item(fmt.Sprintf("h%d", i%10), i)
				switch n := got[it.URL]; {
				case done[it.URL] && n != 0:
					t.Errorf("%s was Done but came back", it.URL)
				case !done[it.URL] && n != 1:
					t.Errorf("%s came back %d times, want once", it.URL, n)
				}
				if a := mustAdd(t, f, it, 0); a != queue.Duplicate {
					t.Errorf("Add %s after the crash = %d, want Duplicate", it.URL, a)
				}
			}
		})
	}
}
