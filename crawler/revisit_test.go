package crawler

import (
	"context"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// warcRecord is a record of an archive, as the revisit tests look at it.
type warcRecord struct {
	typ    gowarc.RecordType
	id     string
	h      *gowarc.WarcFields
	file   string
	offset int64
}

// warcRecords reads every record of the WARC files in dir, failing the
// test on a finding of gowarc's strict validation.
func warcRecords(t *testing.T, dir string) []warcRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc.gz"))
	var out []warcRecord
	for _, f := range files {
		err := warc.Each(f, func(rec gowarc.WarcRecord, offset, _ int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s at %d: validation findings %v", filepath.Base(f), offset, findings)
			}
			out = append(out, warcRecord{rec.Type(), rec.RecordId(), rec.WarcHeader(), filepath.Base(f), offset})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// isRobots reports whether r is of a robots.txt exchange, archived as
// every other.
func isRobots(r warcRecord) bool {
	return strings.HasSuffix(r.h.Get(gowarc.WarcTargetURI), "/robots.txt")
}

// at returns the record at file:offset.
func at(t *testing.T, recs []warcRecord, file string, offset int64) warcRecord {
	t.Helper()
	for _, r := range recs {
		if r.file == file && r.offset == offset {
			return r
		}
	}
	t.Fatalf("no record at %s:%d", file, offset)
	return warcRecord{}
}

// sha1Digest is the WARC payload digest of body.
func sha1Digest(body string) string {
	sum := sha1.Sum([]byte(body))
	return "sha1:" + base32.StdEncoding.EncodeToString(sum[:])
}

// A crawl archiving K pages with one body: one response and K-1
// identical-payload-digest revisits, each referring to the response (its
// URI, date and id), each record saying so (revisit) and naming it, with
// the payload's digest.
func TestCrawl_IdenticalBodiesAreRevisits(t *testing.T) {
	const k = 6
	const same = "<html><body>the same page everywhere</body></html>"
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/":
			for i := range k {
				fmt.Fprintf(w, `<a href="/copy/%d">%d</a>`, i, i)
			}
		case strings.HasPrefix(r.URL.Path, "/copy/"):
			io.WriteString(w, same)
		default:
			http.NotFound(w, r)
		}
	}))
	dir, sink := crawlArchived(t, testConfig(base+"/"), warc.Config{Node: "test", Compress: true, Dedupe: true})

	recs := warcRecords(t, dir)
	var originals, revisits []Record
	for u, rec := range sink.byURL(t) {
		if !strings.Contains(u, "/copy/") {
			continue
		}
		if rec.Digest != sha1Digest(same) {
			t.Errorf("%s: digest %s, want the payload's %s", u, rec.Digest, sha1Digest(same))
		}
		r := at(t, recs, rec.WARCFile, rec.WARCOffset)
		switch rec.Revisit {
		case "":
			originals = append(originals, rec)
			if r.typ != gowarc.Response {
				t.Errorf("%s: record names a %s, want the response", u, r.typ)
			}
		case warc.RevisitIdentical:
			revisits = append(revisits, rec)
			if r.typ != gowarc.Revisit || r.h.Get(gowarc.WarcProfile) != gowarc.ProfileIdenticalPayloadDigestV1_1 {
				t.Errorf("%s: record names a %s (%s), want an identical-payload-digest revisit", u, r.typ, r.h.Get(gowarc.WarcProfile))
			}
		default:
			t.Errorf("%s: revisit %q", u, rec.Revisit)
		}
	}
	if len(originals) != 1 || len(revisits) != k-1 {
		t.Fatalf("%d responses and %d revisits of the copies, want 1 and %d", len(originals), len(revisits), k-1)
	}
	orig := at(t, recs, originals[0].WARCFile, originals[0].WARCOffset)
	for _, rec := range revisits {
		h := at(t, recs, rec.WARCFile, rec.WARCOffset).h
		if h.Get(gowarc.WarcRefersToTargetURI) != originals[0].URL || h.Get(gowarc.WarcRefersToDate) != orig.h.Get(gowarc.WarcDate) ||
			h.GetId(gowarc.WarcRefersTo) != orig.id || h.Get(gowarc.WarcPayloadDigest) != originals[0].Digest {
			t.Errorf("%s: revisit refers to %s at %s (%s, %s), want the response of %s at %s (%s, %s)", rec.URL,
				h.Get(gowarc.WarcRefersToTargetURI), h.Get(gowarc.WarcRefersToDate), h.GetId(gowarc.WarcRefersTo), h.Get(gowarc.WarcPayloadDigest),
				originals[0].URL, orig.h.Get(gowarc.WarcDate), orig.id, originals[0].Digest)
		}
	}
	var n int
	for _, r := range recs {
		if (r.typ == gowarc.Revisit || r.typ == gowarc.Response) && !isRobots(r) {
			n++
		}
	}
	if n != k+1 {
		t.Errorf("%d responses and revisits of pages in the archive, want %d (the copies and the index page)", n, k+1)
	}
}

// A recrawl of unchanged pages answering 304 to the conditional requests:
// each 304 is archived as one server-not-modified revisit referring to
// the page's response of the first round (its URI, date, id and payload
// digest), and its record says so, with that digest.
func TestCrawl_RecrawlNotModifiedRevisits(t *testing.T) {
	pages := map[string]string{"/": `<a href="/a">a</a> <a href="/b">b</a>`, "/a": "page a", "/b": "page b"}
	var notModified pathLog
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		etag := `"` + sha1Digest(body) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			notModified.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotModified)
			})).ServeHTTP(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	dir := t.TempDir()
	archive, err := warc.Open(warc.Config{Dir: dir, Node: "test", Compress: true, Dedupe: true})
	if err != nil {
		t.Fatal(err)
	}
	front := queue.NewMemory(queue.Config{Revisitable: true})
	first, second := &recordSink{}, &recordSink{}
	mustRunOn(t, testConfig(base+"/"), front, first, WithArchive(archive))
	if _, err := front.Revisit(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRunOn(t, testConfig(base+"/"), front, second, WithArchive(archive))
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}

	recs := warcRecords(t, dir)
	before, after := first.byURL(t), second.byURL(t)
	var revisits int
	for _, r := range recs {
		if r.typ == gowarc.Revisit && !isRobots(r) {
			revisits++
		}
	}
	if revisits != len(pages) {
		t.Errorf("%d revisits in the archive, want one per 304 (%d)", revisits, len(pages))
	}
	for path := range pages {
		u := base + path
		rec, orig := after[u], before[u]
		if rec.Status != http.StatusNotModified || rec.Revisit != warc.RevisitNotModified {
			t.Errorf("%s: second round status %d, revisit %q; want 304, %s", path, rec.Status, rec.Revisit, warc.RevisitNotModified)
			continue
		}
		o := at(t, recs, orig.WARCFile, orig.WARCOffset)
		h := at(t, recs, rec.WARCFile, rec.WARCOffset).h
		if h.Get(gowarc.WarcProfile) != gowarc.ProfileServerNotModifiedV1_1 || h.Get(gowarc.WarcTargetURI) != u ||
			h.Get(gowarc.WarcRefersToTargetURI) != u || h.Get(gowarc.WarcRefersToDate) != o.h.Get(gowarc.WarcDate) || h.GetId(gowarc.WarcRefersTo) != o.id ||
			h.Get(gowarc.WarcPayloadDigest) != sha1Digest(pages[path]) || rec.Digest != sha1Digest(pages[path]) {
			t.Errorf("%s: the 304's record %v (record digest %s), want a server-not-modified revisit of %s at %s (%s), digest %s",
				path, h, rec.Digest, u, o.h.Get(gowarc.WarcDate), o.id, sha1Digest(pages[path]))
		}
	}
	if n := notModified.total(); n != len(pages) {
		t.Errorf("%d pages answered 304, want %d", n, len(pages))
	}
}
