package crawler

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/redisq"
	"github.com/crawld/crawld/store"
	"github.com/crawld/crawld/warc"
)

// fullDisk is the error of a write to a full disk, as *os.File returns it.
var fullDisk = &os.PathError{Op: "write", Path: "out.jsonl", Err: syscall.ENOSPC}

// failingSink fails every Write with err.
type failingSink struct {
	err    error
	mu     sync.Mutex
	failed []string // the URLs whose record could not be written
}

func (s *failingSink) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, r.URL)
	return s.err
}

// freshStats returns front's Stats as they are now: a shared frontier
// serves a snapshot its heartbeat reads, so it is read again first.
func freshStats(t *testing.T, front Frontier) queue.Stats {
	t.Helper()
	if r, ok := front.(interface{ Refresh(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Refresh(ctx); err != nil {
			t.Fatalf("refresh stats: %v", err)
		}
	}
	return front.Stats()
}

// threePages serves / linking to /a and /b; robots.txt is a 404.
func threePages(t *testing.T) (seed string, urls []string) {
	base := serve(t, "127.0.0.1", htmlPages(map[string]string{
		"/":  `<a href="/a">a</a> <a href="/b">b</a>`,
		"/a": `a`,
		"/b": `b`,
	}))
	return base + "/", []string{base + "/", base + "/a", base + "/b"}
}

// closingFrontier is a Frontier that a restart closes.
type closingFrontier interface {
	Frontier
	Close() error
}

// reopenable opens a frontier with open and returns it, with a function
// that closes it and opens it again, as a restarted process would.
func reopenable[F closingFrontier](t *testing.T, open func() (F, error)) (Frontier, func() Frontier) {
	t.Helper()
	mustOpen := func() F {
		f, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	f := mustOpen()
	return f, func() Frontier {
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		return mustOpen()
	}
}

// TestCrawl_UnwritableRecordIsNotDone: when the output fails (a full
// disk), the crawl stops with the sink's error and every item whose record
// was not written stays in the frontier, released rather than done, so a
// restart with a working output records every page. For the memory, Pebble
// and Redis frontiers.
func TestCrawl_UnwritableRecordIsNotDone(t *testing.T) {
	backends := []struct {
		name string
		// open returns the frontier, and reopen closes it and opens it
		// again as a restarted process would (the memory frontier is
		// simply kept).
		open func(t *testing.T, cfg Config) (f Frontier, reopen func() Frontier)
	}{
		{"memory", func(t *testing.T, cfg Config) (Frontier, func() Frontier) {
			m := queue.NewMemory(queue.Config{PerHostConcurrency: cfg.PerHostConcurrency})
			return m, func() Frontier { return m }
		}},
		{"pebble", func(t *testing.T, cfg Config) (Frontier, func() Frontier) {
			dir := t.TempDir()
			return reopenable(t, func() (*store.Frontier, error) {
				return store.Open(dir, queue.Config{PerHostConcurrency: cfg.PerHostConcurrency})
			})
		}},
		{"redis", func(t *testing.T, cfg Config) (Frontier, func() Frontier) {
			srv := redistest.Start(t)
			return reopenable(t, func() (*redisq.Frontier, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return redisq.Open(ctx, redisq.Options{URL: srv.URL, CrawlID: "settle", ConfigHash: "test",
					Config: queue.Config{PerHostConcurrency: cfg.PerHostConcurrency}})
			})
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			seed, urls := threePages(t)
			cfg := testConfig(seed)
			front, reopen := b.open(t, cfg)
			full := &failingSink{err: fullDisk}
			_, err := runOn(t, context.Background(), cfg, front, full, zap.ErrorLevel)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "output: write out.jsonl: no space left on device") {
				t.Fatalf("Run = %v, want the output's ENOSPC", err)
			}
			// Nothing was recorded, so nothing is done: all three are
			// queued (the seed's links were admitted before its write
			// failed), none left in flight.
			if st := freshStats(t, front); st.Queued != 3 || st.InFlight != 0 {
				t.Errorf("after the failed write: %d queued, %d in flight; want 3, 0", st.Queued, st.InFlight)
			}

			front = reopen()
			if st := freshStats(t, front); st.Queued != 3 {
				t.Errorf("after a restart: %d queued, want 3", st.Queued)
			}
			sink := &recordSink{}
			mustRunOn(t, cfg, front, sink)
			var got []string
			for _, r := range sink.records() {
				got = append(got, r.URL)
			}
			slices.Sort(got)
			if !slices.Equal(got, urls) {
				t.Errorf("records after the restart: %v, want %v", got, urls)
			}
		})
	}
}

// brokenFrontier is a memory frontier whose Admit of discovered links
// (depth > 0) or Put fails.
type brokenFrontier struct {
	*queue.Memory
	add, put bool
}

var errBroken = errors.New("frontier broken")

func (f brokenFrontier) Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error) {
	if f.add && items[0].Depth > 0 {
		return nil, errBroken
	}
	return f.Memory.Admit(ctx, items, lim)
}

func (f brokenFrontier) Put(ctx context.Context, it queue.Item) error {
	if f.put {
		return errBroken
	}
	return f.Memory.Put(ctx, it)
}

// TestCrawl_UnrecordedOutcomeIsNotDone: a page whose links could not be
// admitted, or whose retry could not be queued, has no complete outcome: it
// is released, not done, and the crawl stops with the frontier's error.
func TestCrawl_UnrecordedOutcomeIsNotDone(t *testing.T) {
	tests := []struct {
		name     string
		add, put bool
		handler  http.Handler
		want     string
	}{
		{"links not admitted", true, false, htmlPages(map[string]string{"/": `<a href="/a">a</a>`}), "frontier add: frontier broken"},
		{"retry not queued", false, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}), "frontier put: frontier broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(serve(t, "127.0.0.1", tt.handler) + "/")
			cfg.Robots = false
			front := brokenFrontier{Memory: queue.NewMemory(queue.Config{}), add: tt.add, put: tt.put}
			sink := &recordSink{}
			if _, err := runOn(t, context.Background(), cfg, front, sink, zap.ErrorLevel); !errors.Is(err, errBroken) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
			if st := front.Stats(); st.Queued != 1 || st.InFlight != 0 {
				t.Errorf("after the failure: %d queued, %d in flight; want the seed queued again", st.Queued, st.InFlight)
			}
			if recs := sink.records(); len(recs) != 0 {
				t.Errorf("records: %v, want none", recs)
			}
		})
	}
}

// syncTracker is a sink that knows which records Sync made durable.
type syncTracker struct {
	mu      sync.Mutex
	written map[string]bool // URL → synced
	syncs   int
}

var _ Syncer = (*syncTracker)(nil)

func (s *syncTracker) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written[r.URL] = false
	return nil
}

func (s *syncTracker) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u := range s.written {
		s.written[u] = true
	}
	s.syncs++
	return nil
}

// state returns whether u has a record, and whether it was synced.
func (s *syncTracker) state(u string) (written, synced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	synced, written = s.written[u]
	return written, synced
}

// doneChecker is a frontier that checks, at each Done, that the item's
// record (if it has one: a page) was synced: a Done is what the frontier
// makes durable (the store's delete, Redis's ack), so it must follow the
// record to disk.
type doneChecker struct {
	Frontier
	t    *testing.T
	sink *syncTracker
	done atomic.Int64
}

func (f *doneChecker) Done(it queue.Item) {
	if written, synced := f.sink.state(it.URL); written && !synced {
		f.t.Errorf("%s Done before its record was synced", it.URL)
	}
	f.done.Add(1)
	f.Frontier.Done(it)
}

// TestCrawl_RecordSyncedBeforeDone: with a sink that can sync, every
// record is synced before its item is Done, for the memory frontier and
// for Redis, whose ack (sent after Done) then never reaches Redis before
// the record reaches the disk.
func TestCrawl_RecordSyncedBeforeDone(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 20})
			cfg := testConfig(site.SeedURL())
			cfg.AllowDomains = site.Domains()
			var front Frontier = queue.NewMemory(queue.Config{PerHostConcurrency: cfg.PerHostConcurrency})
			if backend == "redis" {
				srv := redistest.Start(t)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				f, err := redisq.Open(ctx, redisq.Options{URL: srv.URL, CrawlID: "synced", ConfigHash: "test",
					Config: queue.Config{PerHostConcurrency: cfg.PerHostConcurrency}})
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				front = f
			}
			sink := &syncTracker{written: make(map[string]bool)}
			checker := &doneChecker{Frontier: front, t: t, sink: sink}
			mustRunOn(t, cfg, checker, sink)
			if got, want := len(sink.written), len(site.URLs()); got != want {
				t.Errorf("%d records, want %d", got, want)
			}
			t.Logf("%d Dones, %d syncs", checker.done.Load(), sink.syncs)
		})
	}
}

// unsyncableSink writes records but fails to make them durable, as an
// fsync failing with EIO does.
type unsyncableSink struct{ recordSink }

func (s *unsyncableSink) Sync() error {
	return &os.PathError{Op: "sync", Path: "out.jsonl", Err: syscall.EIO}
}

// unsyncableArchive archives exchanges but fails to make them durable, as
// an fsync of the WARC file failing with EIO does.
type unsyncableArchive struct{}

func (unsyncableArchive) WriteExchange(_ context.Context, ex warc.Exchange) (warc.Location, error) {
	return warc.Location{File: "a.warc.gz", Offset: 100, Length: 200, Digest: "sha1:" + ex.URL}, nil
}

func (unsyncableArchive) Sync() error {
	return &os.PathError{Op: "sync", Path: "a.warc.gz.open", Err: syscall.EIO}
}

// TestCrawl_UnsyncedRecordIsNotDone: a record written but not made durable
// counts as not written: the crawl stops with the sync's error and the item
// stays queued. So does an exchange archived but not made durable, and its
// record is not written: neither the record nor the item's Done may
// outlive, in a crash, the WARC record they point at.
func TestCrawl_UnsyncedRecordIsNotDone(t *testing.T) {
	tests := []struct {
		name string
		sink interface {
			Sink
			records() []Record
		}
		archive Archive
		want    string
	}{
		{"record", &unsyncableSink{}, nil, "output: sync out.jsonl"},
		{"exchange", &recordSink{}, unsyncableArchive{}, "archive: sync a.warc.gz.open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(serve(t, "127.0.0.1", htmlPages(map[string]string{"/": `no links`})) + "/")
			front := queue.NewMemory(queue.Config{})
			var opts []Option
			if tt.archive != nil {
				opts = append(opts, WithArchive(tt.archive))
			}
			if _, err := runOn(t, context.Background(), cfg, front, tt.sink, zap.ErrorLevel, opts...); !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want the sync's EIO (%s)", err, tt.want)
			}
			if st := front.Stats(); st.Queued != 1 || st.InFlight != 0 {
				t.Errorf("after the failed sync: %d queued, %d in flight; want the seed queued again", st.Queued, st.InFlight)
			}
			if recs := tt.sink.records(); tt.archive != nil && len(recs) != 0 {
				t.Errorf("records %v written for an exchange not made durable, want none", recs)
			}
		})
	}
}
