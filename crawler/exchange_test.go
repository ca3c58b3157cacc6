package crawler

import (
	"compress/gzip"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// A crawl with an archive: every page's record names a response record
// that gowarc reads back under strict validation with no finding, for the
// page's URL, with the record's digest, holding the bytes the server sent
// (a gzip-coded page decoded, as its headers then say; a chunked one
// whole), after a request record carrying the request as written.
func TestCrawl_ArchivesEveryPage(t *testing.T) {
	pages := map[string]string{
		"/":        `<a href="/a">a</a> <a href="/gz">gz</a> <a href="/chunked">c</a> <a href="/missing">m</a>`,
		"/a":       "page a",
		"/gz":      strings.Repeat("gzip-coded page ", 100),
		"/chunked": strings.Repeat("chunk ", 1000),
		"/missing": "not here",
	}
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		w.Header().Set("Content-Type", "text/html")
		switch {
		case r.URL.Path == "/robots.txt":
			http.NotFound(w, r)
		case r.URL.Path == "/gz" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"):
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			io.WriteString(gz, body)
			gz.Close()
		case r.URL.Path == "/chunked":
			for i := 0; i < len(body); i += 1000 {
				io.WriteString(w, body[i:i+1000])
				w.(http.Flusher).Flush()
			}
		case !ok:
			http.NotFound(w, r)
		case r.URL.Path == "/missing":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, body)
		default:
			io.WriteString(w, body)
		}
	}))
	dir := t.TempDir()
	archive, err := warc.Open(warc.Config{Dir: dir, Node: "test", Compress: true, Software: "crawld/test"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	mustRunOn(t, testConfig(base+"/"), queue.NewMemory(queue.Config{}), sink, WithArchive(archive))
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}

	recs := sink.byURL(t)
	if len(recs) != len(pages) {
		t.Fatalf("%d records, want %d", len(recs), len(pages))
	}
	requests := requestRecords(t, dir)
	for path, body := range pages {
		rec := recs[base+path]
		if rec.WARCFile == "" || rec.Digest == "" || rec.WARCLength <= 0 {
			t.Errorf("%s: record names no WARC record: %+v", path, rec)
			continue
		}
		r, err := gowarc.NewWarcFileReader(filepath.Join(dir, rec.WARCFile), rec.WARCOffset, gowarc.WithStrictValidation())
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Next()
		if err != nil {
			t.Fatalf("%s: read the record at %s:%d: %v", path, rec.WARCFile, rec.WARCOffset, err)
		}
		wr := got.WarcRecord
		if len(got.Validation) > 0 {
			t.Errorf("%s: validation findings %v", path, got.Validation)
		}
		if wr.Type() != gowarc.Response || wr.WarcHeader().Get(gowarc.WarcTargetURI) != rec.URL {
			t.Errorf("%s: record at the location is a %s of %s", path, wr.Type(), wr.WarcHeader().Get(gowarc.WarcTargetURI))
		}
		req := requests[wr.WarcHeader().GetId(gowarc.WarcConcurrentTo)]
		for _, want := range []string{"GET " + path + " HTTP/1.1\r\n", "User-Agent: " + testConfig().UserAgent + "\r\n", "Accept-Encoding: gzip\r\n", "Host: "} {
			if !strings.Contains(req, want) {
				t.Errorf("%s: its request record %q lacks %q", path, req, want)
			}
		}
		if d := wr.WarcHeader().Get(gowarc.WarcPayloadDigest); d != rec.Digest {
			t.Errorf("%s: payload digest %s, record says %s", path, d, rec.Digest)
		}
		block := wr.Block().(gowarc.HttpResponseBlock)
		payload, _ := block.PayloadBytes()
		stored, _ := io.ReadAll(payload)
		if string(stored) != body {
			t.Errorf("%s: stored payload %d bytes %q…, want the %d bytes served", path, len(stored), firstBytes(stored), len(body))
		}
		if path == "/gz" && (block.HttpHeader().Get("Content-Encoding") != "" || block.HttpHeader().Get("X-Crawld-Decoded-Content-Encoding") != "gzip") {
			t.Errorf("/gz: headers %v do not say the stored payload was decoded", block.HttpHeader())
		}
		wr.Close()
		r.Close()
	}
}

func firstBytes(b []byte) []byte { return b[:min(len(b), 20)] }

// requestRecords reads every request record of the WARC files in dir:
// record id → the request it holds.
func requestRecords(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc.gz"))
	out := make(map[string]string)
	for _, f := range files {
		err := warc.Each(f, func(rec gowarc.WarcRecord, _ int64, _ []error) error {
			if rec.Type() == gowarc.Request {
				raw, err := rec.Block().RawBytes()
				if err != nil {
					return err
				}
				b, err := io.ReadAll(raw)
				out[rec.RecordId()] = string(b)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
