package crawler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// orderWriter is the writer under a JSONLSink that checks, as each flush
// hands it records, that the WARC record each names is already in its
// file for any reader (the file's size covers it), which is the order the
// crawler promises: a record never reaches a reader before its archive.
type orderWriter struct {
	dir string

	mu        sync.Mutex
	records   int
	writes    int
	violation []string
}

func (w *orderWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	for _, line := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			w.violation = append(w.violation, fmt.Sprintf("line %q: %v", line, err))
			continue
		}
		w.records++
		if rec.WARCFile == "" {
			continue
		}
		size := int64(-1)
		for _, name := range []string{rec.WARCFile + ".open", rec.WARCFile} {
			if fi, err := os.Stat(filepath.Join(w.dir, name)); err == nil {
				size = fi.Size()
			}
		}
		if end := rec.WARCOffset + rec.WARCLength; size < end {
			w.violation = append(w.violation, fmt.Sprintf("%s reached the output while %s held %d bytes, not the %d its record ends at", rec.URL, rec.WARCFile, size, end))
		}
	}
	return len(p), nil
}

// TestOutput_RecordsFollowTheirArchive crawls with an archive and a
// buffering sink (JSONLSink): every record reaches the writer, and none
// before the WARC record it names is in its file.
func TestOutput_RecordsFollowTheirArchive(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 3, PagesPerHost: 60, Seed: 7})
	cfg := testConfig(site.SeedURL())
	cfg.Workers = 16
	cfg.AllowDomains = site.Domains()
	dir := t.TempDir()
	archive, err := warc.Open(warc.Config{Dir: dir, Compress: true, Dedupe: true, CDXJ: true})
	if err != nil {
		t.Fatal(err)
	}
	w := &orderWriter{dir: dir}
	mustRunOn(t, cfg, queue.NewMemory(queue.Config{}), NewJSONLSink(w), WithArchive(archive))
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}
	for _, v := range w.violation {
		t.Error(v)
	}
	if want := len(site.URLs()); w.records < want {
		t.Errorf("%d records reached the output, want at least the site's %d pages", w.records, want)
	}
	t.Logf("%d records in %d writes", w.records, w.writes)
}

// TestOutput_FlushesWhileIdle: a service that has nothing more to fetch
// still hands on the records it buffered, within flushInterval, without a
// record after them to push them out.
func TestOutput_FlushesWhileIdle(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 1, PagesPerHost: 5, Seed: 3})
	cfg := testConfig(site.SeedURL())
	cfg.AllowDomains = site.Domains()
	w := &orderWriter{}
	c, err := New(cfg, queue.NewMemory(queue.Config{}), NewJSONLSink(w), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { _, err := c.Serve(stop, stop); served <- err }()
	deadline := time.After(30 * time.Second) // bounds a hang; the wait is for the flush
	for tick := time.NewTicker(10 * time.Millisecond); ; {
		w.mu.Lock()
		n := w.records
		w.mu.Unlock()
		if n >= len(site.URLs()) {
			tick.Stop()
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d of %d records reached the output while the service idled", n, len(site.URLs()))
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
