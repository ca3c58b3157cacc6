package crawler

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/robots"
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
	dir, sink := crawlArchived(t, testConfig(base+"/"), warc.Config{Node: "test", Compress: true, Software: "crawld/test"})

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
		wr, header, stored := responseAt(t, dir, rec)
		if wr.WarcHeader().Get(gowarc.WarcTargetURI) != rec.URL {
			t.Errorf("%s: record at the location is of %s", path, wr.WarcHeader().Get(gowarc.WarcTargetURI))
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
		if string(stored) != body {
			t.Errorf("%s: stored payload %d bytes %q…, want the %d bytes served", path, len(stored), firstBytes(stored), len(body))
		}
		if path == "/gz" && (header.Get("Content-Encoding") != "" || header.Get("X-Crawld-Decoded-Content-Encoding") != "gzip") {
			t.Errorf("/gz: headers %v do not say the stored payload was decoded", header)
		}
	}
}

// responseAt reads the record rec names, in dir, under gowarc's strict
// validation, and returns it with its HTTP header and payload; it must be
// a response, without findings.
func responseAt(t *testing.T, dir string, rec Record) (gowarc.WarcRecord, http.Header, []byte) {
	t.Helper()
	r, err := gowarc.NewWarcFileReader(filepath.Join(dir, rec.WARCFile), rec.WARCOffset, gowarc.WithStrictValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Next()
	if err != nil {
		t.Fatalf("%s: read the record at %s:%d: %v", rec.URL, rec.WARCFile, rec.WARCOffset, err)
	}
	wr := got.WarcRecord
	defer wr.Close()
	if len(got.Validation) > 0 {
		t.Errorf("%s: validation findings %v", rec.URL, got.Validation)
	}
	block, ok := wr.Block().(gowarc.HttpResponseBlock)
	if wr.Type() != gowarc.Response || !ok {
		t.Fatalf("%s: the record at the location is a %s holding %T", rec.URL, wr.Type(), wr.Block())
	}
	payload, err := block.PayloadBytes()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(payload)
	if err != nil {
		t.Fatal(err)
	}
	return wr, *block.HttpHeader(), stored
}

func firstBytes(b []byte) []byte { return b[:min(len(b), 20)] }

// requestRecords reads every request record of the WARC files in dir:
// record id → the request it holds.
func requestRecords(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc.gz"))
	out := make(map[string]string)
	for _, f := range files {
		err := warc.Each(f, func(rec gowarc.WarcRecord, _, _ int64, _ []error) error {
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

// memArchive keeps the exchanges written to it, in order.
type memArchive struct {
	mu        sync.Mutex
	exchanges []warc.Exchange
}

func (a *memArchive) WriteExchange(_ context.Context, ex warc.Exchange) (warc.Location, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exchanges = append(a.exchanges, ex)
	return warc.Location{File: "mem", Offset: int64(len(a.exchanges)), Length: 1, Digest: "sha1:X"}, nil
}

func (a *memArchive) Sync() error { return nil }

// of returns the exchanges of u, in the order written.
func (a *memArchive) of(u string) []warc.Exchange {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []warc.Exchange
	for _, ex := range a.exchanges {
		if ex.URL == u {
			out = append(out, ex)
		}
	}
	return out
}

// robots.txt's fetch is archived hop by hop: the redirect, then the file
// it leads to, cut at robots.MaxSize and marked truncated, each with its
// request as sent; its rules still apply.
func TestCrawl_ArchivesRobotsRedirects(t *testing.T) {
	var log timedLog
	base := serve(t, "127.0.0.2", log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.Redirect(w, r, "/moved/robots.txt", http.StatusMovedPermanently)
		case "/moved/robots.txt":
			io.WriteString(w, "User-agent: *\nDisallow: /private\n"+strings.Repeat("#", robots.MaxSize))
		case "/":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `<a href="/private">p</a>`)
		}
	})))
	archive := &memArchive{}
	mustRunOn(t, testConfig(base+"/"), queue.NewMemory(queue.Config{}), &recordSink{}, WithArchive(archive))
	if n := len(log.times("/private")); n != 0 {
		t.Errorf("/private fetched %d times: the rules read through the redirect do not apply", n)
	}
	first, moved := archive.of(base+"/robots.txt"), archive.of(base+"/moved/robots.txt")
	if len(first) != 1 || first[0].Status != http.StatusMovedPermanently || first[0].Header.Get("Location") != "/moved/robots.txt" {
		t.Fatalf("the redirect archived as %d exchanges %+v, want one 301", len(first), first)
	}
	if len(moved) != 1 || moved[0].Status != http.StatusOK || moved[0].Truncated != warc.TruncatedLength || len(moved[0].Body) != robots.MaxSize {
		t.Fatalf("robots.txt archived as %d exchanges, want one 200 of %d bytes marked truncated", len(moved), robots.MaxSize)
	}
	if req := string(moved[0].Request); !strings.HasPrefix(req, "GET /moved/robots.txt HTTP/1.1\r\n") || !strings.Contains(req, "User-Agent: "+testConfig().UserAgent+"\r\n") {
		t.Errorf("robots.txt's request archived as %q", req)
	}
}

// A body cut short by the server is archived as far as it was read,
// marked with why it ends there: disconnect for a connection that closed
// early, time for one that stalled past read_idle_timeout; the page's
// record keeps its error and names that response record.
func TestCrawl_ArchivesBodiesCutShort(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			io.WriteString(w, `<a href="/cut">cut</a> <a href="/stall">stall</a>`)
		case "/cut":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString(head + "partial body")
			buf.Flush()
			conn.Close()
		case "/stall":
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "slow start")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the client gives up, and closes the connection
		default:
			http.NotFound(w, r)
		}
	}))
	cfg := testConfig(base + "/")
	cfg.ReadIdleTimeout = 200 * time.Millisecond
	cfg.MaxRetries = 0
	dir, sink := crawlArchived(t, cfg, warc.Config{Node: "test", Compress: true, Software: "crawld/test"})
	recs := sink.byURL(t)
	for path, want := range map[string]struct{ payload, truncated string }{
		"/cut":   {"partial body", warc.TruncatedDisconnect},
		"/stall": {"slow start", warc.TruncatedTime},
	} {
		rec := recs[base+path]
		if rec.Error == "" || rec.WARCFile == "" {
			t.Errorf("%s: record %+v, want an error and its response archived", path, rec)
			continue
		}
		wr, _, payload := responseAt(t, dir, rec)
		if tr := wr.WarcHeader().Get(gowarc.WarcTruncated); tr != want.truncated {
			t.Errorf("%s: WARC-Truncated %q, want %q", path, tr, want.truncated)
		}
		if string(payload) != want.payload {
			t.Errorf("%s: payload %q, want %q", path, payload, want.payload)
		}
	}
}
