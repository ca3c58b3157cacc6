package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/warc"
)

// copiesSite serves, on ip, an index page linking to /copy/0 … /copy/k-1,
// which all answer one body, and /alone/0 … with that body too but
// linked from nowhere (seeds of later runs). The index waits until ready
// is closed, and each copy takes delay.
func copiesSite(t *testing.T, ip string, k int, ready <-chan struct{}, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch {
		case r.URL.Path == "/":
			<-ready
			for i := range k {
				fmt.Fprintf(w, `<a href="/copy/%d">%d</a>`, i, i)
			}
		case strings.HasPrefix(r.URL.Path, "/copy/"), strings.HasPrefix(r.URL.Path, "/alone/"):
			time.Sleep(delay) // a slow page, so that both nodes of a shared crawl fetch copies
			fmt.Fprint(w, "<html><body>one body for every copy</body></html>")
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// warcEntry is a response or revisit record of an archive.
type warcEntry struct {
	typ      gowarc.RecordType
	id       string
	uri      string
	date     string
	digest   string // WARC-Payload-Digest
	profile  string
	refersTo string // WARC-Refers-To
	refURI   string // WARC-Refers-To-Target-URI
	refDate  string // WARC-Refers-To-Date
}

// readArchive reads the response and revisit records of every finished
// WARC file in dir, failing on a finding of gowarc's strict validation or
// a file left .open; keyed by file:offset.
func readArchive(t *testing.T, dir string) map[string]warcEntry {
	t.Helper()
	out := make(map[string]warcEntry)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		switch {
		case strings.HasSuffix(f, ".open"):
			t.Errorf("%s left unfinished", filepath.Base(f))
			continue
		case !strings.HasSuffix(f, ".warc.gz") && !strings.HasSuffix(f, ".warc"):
			continue // an index, a package
		}
		err := warc.Each(f, func(rec gowarc.WarcRecord, offset, _ int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s at %d: %v", filepath.Base(f), offset, findings)
			}
			if rec.Type() == gowarc.Response || rec.Type() == gowarc.Revisit {
				h := rec.WarcHeader()
				out[fmt.Sprintf("%s:%d", filepath.Base(f), offset)] = warcEntry{rec.Type(), rec.RecordId(), h.Get(gowarc.WarcTargetURI),
					h.Get(gowarc.WarcDate), h.Get(gowarc.WarcPayloadDigest), h.Get(gowarc.WarcProfile), h.GetId(gowarc.WarcRefersTo), h.Get(gowarc.WarcRefersToTargetURI), h.Get(gowarc.WarcRefersToDate)}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// entryOf returns the archive's record a JSONL record names.
func entryOf(t *testing.T, archive map[string]warcEntry, rec map[string]any) warcEntry {
	t.Helper()
	file, _ := rec["warc_file"].(string)
	offset, _ := rec["warc_offset"].(float64)
	e, ok := archive[fmt.Sprintf("%s:%d", file, int64(offset))]
	if !ok {
		t.Fatalf("record %v names no response or revisit record", rec)
	}
	return e
}

// checkRefersTo fails unless revisit refers to orig by id, URI and date.
func checkRefersTo(t *testing.T, revisit, orig warcEntry) {
	t.Helper()
	if revisit.refersTo != orig.id || revisit.refURI != orig.uri || revisit.refDate != orig.date {
		t.Errorf("revisit of %s refers to %s (%s at %s), want the response %s (%s at %s)",
			revisit.uri, revisit.refersTo, revisit.refURI, revisit.refDate, orig.id, orig.uri, orig.date)
	}
}

// `crawld run` recrawling unchanged pages that answer the conditional
// requests with 304: each 304 is archived as a server-not-modified
// revisit of the page's response of the first round, and its record says
// so; with Pebble and in memory.
func TestDaemon_RecrawlArchives304sAsRevisits(t *testing.T) {
	for _, storage := range []string{"memory", "pebble"} {
		t.Run(storage, func(t *testing.T) {
			site := startSite(t, testsite.Config{PagesPerHost: 5, ETags: true})
			dir := t.TempDir()
			out, warcDir := filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "warc")
			d := startDaemon(t, "--seed", site.SeedURL(), "--storage", storage, "--data-dir", filepath.Join(dir, "state"),
				"--rate", "0", "--output", out, "--recrawl-interval", "300ms", "--warc-dir", warcDir)
			byURL := func() map[string][]map[string]any {
				data, _ := os.ReadFile(out)
				by := make(map[string][]map[string]any)
				for _, rec := range readRecords(t, data) {
					by[rec["url"].(string)] = append(by[rec["url"].(string)], rec)
				}
				return by
			}
			waitFor(t, "a second round", 30*time.Second, func() bool {
				by := byURL()
				for _, u := range site.URLs() {
					if len(by[u]) < 2 {
						return false
					}
				}
				return true
			})
			if code := d.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d; log:\n%s", code, d.log())
			}
			archive := readArchive(t, warcDir)
			by := byURL()
			var notModified int
			for _, recs := range by {
				for _, rec := range recs {
					if rec["status"] == float64(http.StatusNotModified) {
						notModified++
					}
				}
			}
			var revisits int
			for _, e := range archive {
				if e.typ == gowarc.Revisit {
					revisits++
				}
			}
			if revisits != notModified {
				t.Errorf("%d revisits archived for %d 304s", revisits, notModified)
			}
			for _, u := range site.URLs() {
				first, second := by[u][0], by[u][1]
				if second["status"] != float64(http.StatusNotModified) || second["revisit"] != warc.RevisitNotModified {
					t.Errorf("%s: second round %v, want a 304 archived as a server-not-modified revisit", u, second)
					continue
				}
				orig, rv := entryOf(t, archive, first), entryOf(t, archive, second)
				if orig.typ != gowarc.Response || rv.typ != gowarc.Revisit || rv.profile != gowarc.ProfileServerNotModifiedV1_1 {
					t.Errorf("%s: first round's record a %s, second's a %s (%s)", u, orig.typ, rv.typ, rv.profile)
				}
				checkRefersTo(t, rv, orig)
				if second["digest"] != first["digest"] {
					t.Errorf("%s: the 304's digest %v, want the original's %v", u, second["digest"], first["digest"])
				}
			}
		})
	}
}

// `crawld crawl` with Pebble, run twice on one data_dir: a page of the
// second run whose body the first archived is a revisit of the first
// run's response.
func TestRun_PebbleDedupesAcrossRestarts(t *testing.T) {
	ready := make(chan struct{})
	close(ready)
	base := copiesSite(t, "127.0.0.2", 1, ready, 0)
	dir := t.TempDir()
	warcDir := filepath.Join(dir, "warc")
	crawlOnce := func(seed, out string) map[string]any {
		t.Helper()
		args := []string{"crawl", "--seed", seed, "--rate", "0", "--output", out, "--log-level", "warn", "--allow-cidr", "127.0.0.0/8",
			"--storage", "pebble", "--data-dir", filepath.Join(dir, "state"), "--warc-dir", warcDir}
		recs := crawlRecords(t, out, args)
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		return recs[0]
	}
	first := crawlOnce(base+"/alone/0", filepath.Join(dir, "first.jsonl"))
	second := crawlOnce(base+"/alone/1", filepath.Join(dir, "second.jsonl"))
	if first["revisit"] != nil || second["revisit"] != warc.RevisitIdentical || second["digest"] != first["digest"] {
		t.Fatalf("first run %v, second %v; want a response, then an identical-payload revisit", first, second)
	}
	archive := readArchive(t, warcDir)
	checkRefersTo(t, entryOf(t, archive, second), entryOf(t, archive, first))
}

// Two `crawld run` nodes on one Redis crawling pages with one body (both
// fetching copies): the payload is stored once across both nodes' files,
// every other copy a revisit of that response.
func TestShared_DedupeAcrossNodes(t *testing.T) {
	const k = 12
	r := redistest.Start(t)
	ready := make(chan struct{})
	base := copiesSite(t, "127.0.0.2", k, ready, 200*time.Millisecond) // longer than an idle node sleeps between claims
	dir := t.TempDir()
	warcDir := filepath.Join(dir, "warc")
	start := func(id string) *daemonProc {
		return startDaemon(t, "--seed", base+"/", "--rate", "0", "--storage", "redis", "--redis-url", r.URL,
			"--redis-crawl-id", "dedupe", "--node-id", id, "--output", filepath.Join(dir, id+".jsonl"), "--warc-dir", warcDir,
			"--per-host-concurrency", "4", "--workers", "2") // a node fills half the host's slots: the other claims the rest
	}
	nodes := []*daemonProc{start("a"), start("b")}
	close(ready) // the copies are found once both nodes are up
	records := func() []map[string]any {
		var recs []map[string]any
		for _, id := range []string{"a", "b"} {
			data, _ := os.ReadFile(filepath.Join(dir, id+".jsonl"))
			recs = append(recs, readRecords(t, data)...)
		}
		return recs
	}
	waitFor(t, "every page recorded", 30*time.Second, func() bool { return len(records()) == k+1 })
	for _, d := range nodes {
		if code := d.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("exit code %d; log:\n%s", code, d.log())
		}
	}
	fetchedBy := make(map[any]int)
	for _, rec := range records() {
		fetchedBy[rec["node"]]++
	}
	if fetchedBy["a"] == 0 || fetchedBy["b"] == 0 {
		t.Fatalf("pages recorded by node: %v, want both nodes", fetchedBy)
	}
	archive := readArchive(t, warcDir)
	var orig warcEntry
	var revisits []warcEntry
	for _, e := range archive {
		switch {
		case !strings.Contains(e.uri, "/copy/"):
		case e.typ == gowarc.Response:
			if orig.id != "" {
				t.Errorf("the payload stored twice: %s and %s", orig.uri, e.uri)
			}
			orig = e
		default:
			revisits = append(revisits, e)
		}
	}
	if orig.id == "" || len(revisits) != k-1 {
		t.Fatalf("%d revisits and response %+v across both nodes, want %d and one", len(revisits), orig, k-1)
	}
	for _, rv := range revisits {
		checkRefersTo(t, rv, orig)
	}
}
