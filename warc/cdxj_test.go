package warc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlnwa/gowarc/v3"
)

// cdxjLine is an index line taken apart.
type cdxjLine struct {
	key, ts string
	fields  map[string]string
}

func parseCDXJ(t *testing.T, line string) cdxjLine {
	t.Helper()
	key, rest, _ := strings.Cut(line, " ")
	ts, js, _ := strings.Cut(rest, " ")
	var fields map[string]string
	if err := json.Unmarshal([]byte(js), &fields); err != nil {
		t.Fatalf("index line %q: %v", line, err)
	}
	return cdxjLine{key, ts, fields}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// archiveMixed writes a 200 HTML page (with charset), a 404, a redirect
// and a revisit of the first page's payload at another URL, then a
// metadata record of WARC fields, into files that rotate, and returns
// the response and revisit URLs in order with where each went.
func archiveMixed(t *testing.T, w *Writer) ([]string, []Location) {
	t.Helper()
	page := exchange("http://127.0.0.2:8080/Page?b=2&a=1", "<title>x</title>", false)
	page.Header.Set("Content-Type", "text/html; charset=utf-8")
	missing := exchange("http://127.0.0.2:8080/missing", "not found", false)
	missing.Status = http.StatusNotFound
	missing.Header.Set("Content-Type", "text/html") // an HTML page, but not a WACZ page
	moved := exchange("http://www.example.test/old/", "", false)
	moved.Status = http.StatusMovedPermanently
	moved.Header = http.Header{"Location": {"/new"}}
	var urls []string
	var locs []Location
	for _, ex := range []Exchange{page, missing, moved} {
		loc, err := w.WriteExchange(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		urls, locs = append(urls, ex.URL), append(locs, loc)
	}

	// A revisit and a metadata record, as the crawler will write them,
	// written straight through w.write.
	again := page
	again.URL = "http://127.0.0.2:8080/copy"
	date := formatDate(again.Date)
	var ids [2]string
	if err := recordIDs(ids[:]); err != nil {
		t.Fatal(err)
	}
	resp := w.responseRecord(again, ids[0], date)
	rev := w.revisitRecord(revisit{kind: RevisitIdentical, of: Capture{URI: page.URL, Date: page.Date}}, resp)
	meta := newRecord(gowarc.Metadata, ids[1], again.URL, date, gowarc.ApplicationWarcFields)
	meta.seal(nil, []byte("outlink: http://127.0.0.2:8080/\r\n"), false)
	spans, err := w.write(rev, meta)
	if err != nil {
		t.Fatal(err)
	}
	urls = append(urls, again.URL)
	locs = append(locs, Location{File: spans[0].file, Offset: spans[0].offset, Length: spans[0].length, Digest: rev.payloadDigest})
	return urls, locs
}

// Each finished WARC file gets NAME.cdxj beside it, compressed or not:
// its lines sorted, one per response and revisit (none for requests,
// warcinfo and metadata), keyed by SURT and the 14-digit WARC-Date, with
// the fields warcio.js and pywb write in their forms (mime without
// parameters, "warc/revisit" for a revisit, status, length and offset as
// strings, the digest without "sha1:") locating the record; no .open
// file is left.
func TestCDXJ_BesideEachFile(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(Config{Dir: dir, Node: "n", Compress: compress, MaxSize: 1, CDXJ: true})
			if err != nil {
				t.Fatal(err)
			}
			urls, locs := archiveMixed(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]string{ // url → fields
				urls[0]: {"mime": "text/html", "status": "200"},
				urls[1]: {"mime": "text/html", "status": "404"},
				urls[2]: {"status": "301"},
				urls[3]: {"mime": "warc/revisit", "status": "200"},
			}
			seen := 0
			for i, u := range urls {
				loc := locs[i]
				lines := readLines(t, filepath.Join(dir, strings.TrimSuffix(strings.TrimSuffix(loc.File, ".gz"), ".warc")+".cdxj"))
				if !slices.IsSorted(lines) {
					t.Errorf("%s: lines not sorted: %q", loc.File, lines)
				}
				for _, line := range lines {
					l := parseCDXJ(t, line)
					if l.fields["url"] != u {
						continue
					}
					seen++
					f := map[string]string{"url": u, "digest": strings.TrimPrefix(loc.Digest, "sha1:"), "length": fmt.Sprint(loc.Length),
						"offset": fmt.Sprint(loc.Offset), "filename": loc.File}
					for k, v := range want[u] {
						f[k] = v
					}
					if !compress { // the record without the CRLF CRLF that ends it, as warcio counts it
						f["length"] = fmt.Sprint(loc.Length - 4)
					}
					if l.key != SURT(u) || l.ts != "20261207120000" || !mapsEqual(l.fields, f) {
						t.Errorf("line %q, want key %q, timestamp 20261207120000, fields %v", line, SURT(u), f)
					}
				}
			}
			if seen != len(urls) {
				t.Errorf("%d index lines for %d responses and revisits", seen, len(urls))
			}
			all, _ := filepath.Glob(filepath.Join(dir, "*"))
			var cdxj, warcs int
			for _, f := range all {
				switch {
				case strings.HasSuffix(f, ".cdxj"):
					cdxj++
				case strings.HasSuffix(f, ".warc"), strings.HasSuffix(f, ".warc.gz"):
					warcs++
				default:
					t.Errorf("unexpected file %s", f)
				}
			}
			if cdxj != warcs || warcs != len(urls) {
				t.Errorf("%d WARC files and %d indexes, want one of each per exchange (max size 1 byte)", warcs, cdxj)
			}
			if got := w.Files(); len(got) != warcs {
				t.Errorf("Files() = %q, want the %d files written", got, warcs)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// IndexFile, reading a finished WARC back, writes byte for byte the index
// the writer wrote as it wrote the file (compressed or not), sorted.
func TestIndexFile_SameAsWritten(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(Config{Dir: dir, Node: "n", Compress: compress, CDXJ: true})
			if err != nil {
				t.Fatal(err)
			}
			archiveMixed(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			files := w.Files()
			if len(files) != 1 {
				t.Fatalf("files %q, want one", files)
			}
			written, err := os.ReadFile(CDXJPath(files[0]))
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(strings.TrimSuffix(string(written), "\n"), "\n"); len(lines) != 4 || !slices.IsSorted(lines) {
				t.Errorf("lines written:\n%s\nwant 4, sorted", written)
			}
			if err := os.Remove(CDXJPath(files[0])); err != nil {
				t.Fatal(err)
			}
			if err := IndexFile(files[0]); err != nil {
				t.Fatal(err)
			}
			read, err := os.ReadFile(CDXJPath(files[0]))
			if err != nil {
				t.Fatal(err)
			}
			if string(read) != string(written) {
				t.Errorf("IndexFile wrote\n%s\nthe writer wrote\n%s", read, written)
			}
		})
	}
}

// Without Config.CDXJ no index is written.
func TestCDXJ_Off(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	archiveMixed(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "*.cdxj*")); len(got) != 0 {
		t.Errorf("indexes %q written without Config.CDXJ", got)
	}
}

// An index line is what the JSON encoder writes, whether its strings need
// escaping or not, its fields present or absent.
func TestCDXJLine_AsTheEncoderWrites(t *testing.T) {
	for _, f := range []cdxjFields{
		{URL: "http://127.0.0.2/a?b=1&c=<2>", Mime: "text/html", Status: "200", Digest: "ABC", Filename: "f.warc.gz"},
		{URL: "http://127.0.0.2/\"quoted\"\\", Mime: "text/html", Status: "404", Filename: "f.warc.gz"},
		{URL: "http://127.0.0.2/é", Mime: "warc/revisit", Filename: "f.warc"},
		{Filename: "f.warc.gz"},
	} {
		e := cdxjEntry{key: "2,0,0,127)/ 20261207120000", fields: f, offset: 12, length: 345}
		want := f
		want.Offset, want.Length = "12", "345"
		if got, want := e.line(), e.key+" "+jsonLine(want); got != want {
			t.Errorf("line:\n got %s\nwant %s", got, want)
		}
	}
}
