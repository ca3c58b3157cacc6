package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mixedSite serves a few pages of every kind an index must tell apart: HTML
// with a charset, a query, a 404, a redirect, plain text, and two URLs with
// one payload.
func mixedSite(t *testing.T) *httptest.Server {
	t.Helper()
	html := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, body)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", html(`<title>home</title><a href="/a?b=2&amp;a=1">a</a> <a href="/missing">m</a> <a href="/old">o</a> <a href="/same1">1</a> <a href="/same2">2</a> <a href="/notes">n</a>`))
	mux.HandleFunc("/a", html("<p>a</p>"))
	mux.HandleFunc("/same1", html("<p>same</p>"))
	mux.HandleFunc("/same2", html("<p>same</p>"))
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<p>no such page</p>")
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/a?b=2&a=1", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/notes", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "notes")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// crawlMixed crawls mixedSite with `crawld crawl --warc-dir DIR` and the
// extra args, and returns DIR.
func crawlMixed(t *testing.T, extra ...string) string {
	t.Helper()
	srv := mixedSite(t)
	dir := t.TempDir()
	warcDir := filepath.Join(dir, "warc")
	args := append([]string{"crawl", "--seed", srv.URL + "/", "--rate", "0", "--output", filepath.Join(dir, "out.jsonl"),
		"--log-level", "warn", "--allow-cidr", "127.0.0.0/8", "--warc-dir", warcDir, "--warc-prefix", "test"}, extra...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	return warcDir
}

// `crawld crawl --warc-wacz` packages the crawl as one
// DIR/PREFIX-TIMESTAMP.wacz holding every WARC file of the crawl, their
// CDXJ merged (the package's hashes and layout are warc.TestPackage's),
// and a page for each HTML 200 response.
func TestRun_CrawlWritesWACZ(t *testing.T) {
	warcDir := crawlMixed(t, "--warc-wacz", "--warc-max-size", "2KiB")
	packages, _ := filepath.Glob(filepath.Join(warcDir, "test-*.wacz"))
	if len(packages) != 1 {
		t.Fatalf("packages %q, want one", packages)
	}
	r, err := zip.OpenReader(packages[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	entries := make(map[string]string) // the names, and the content of those read
	for _, f := range r.File {
		entries[f.Name] = ""
	}
	for _, name := range []string{"indexes/index.cdxj", "pages/pages.jsonl"} {
		b, err := fs.ReadFile(r, name)
		if err != nil {
			t.Fatal(err)
		}
		entries[name] = string(b)
	}
	warcs, _ := filepath.Glob(filepath.Join(warcDir, "*.warc.gz"))
	if len(warcs) < 2 {
		t.Fatalf("WARC files %q, want rotation at 2KiB", warcs)
	}
	var lines []string
	for _, w := range warcs {
		if _, ok := entries["archive/"+filepath.Base(w)]; !ok {
			t.Errorf("%s not in the package", filepath.Base(w))
		}
		cdxj, err := os.ReadFile(strings.TrimSuffix(w, ".warc.gz") + ".cdxj")
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(cdxj), "\n"), "\n")...)
	}
	slices.Sort(lines)
	if got := entries["indexes/index.cdxj"]; got != strings.Join(lines, "\n")+"\n" {
		t.Errorf("indexes/index.cdxj:\n%s\nwant the files' indexes merged:\n%s", got, strings.Join(lines, "\n"))
	}
	pages := strings.Split(strings.TrimSuffix(entries["pages/pages.jsonl"], "\n"), "\n")
	// The home page, /a?b=2&a=1, /same1 and /same2: not the 404, the
	// redirect or the plain text.
	if len(pages) != 5 || pages[0] != `{"format":"json-pages-1.0","id":"pages","title":"All Pages"}` {
		t.Errorf("pages.jsonl %q, want the header and 4 pages", pages)
	}
	for _, name := range []string{"datapackage.json", "datapackage-digest.json"} {
		if _, ok := entries[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

// Without warc.wacz no package is written, and each WARC file has its
// index beside it (warc.cdxj is on by default); with --warc-cdxj=false
// none has; warc.wacz without warc.cdxj is refused, naming the key.
func TestRun_CDXJAndWACZKeys(t *testing.T) {
	warcDir := crawlMixed(t)
	if got, _ := filepath.Glob(filepath.Join(warcDir, "*.wacz")); len(got) != 0 {
		t.Errorf("packages %q without warc.wacz", got)
	}
	warcs, _ := filepath.Glob(filepath.Join(warcDir, "*.warc.gz"))
	indexes, _ := filepath.Glob(filepath.Join(warcDir, "*.cdxj"))
	if len(warcs) == 0 || len(indexes) != len(warcs) {
		t.Errorf("%d WARC files, %d indexes; want one each", len(warcs), len(indexes))
	}
	warcDir = crawlMixed(t, "--warc-cdxj=false")
	if got, _ := filepath.Glob(filepath.Join(warcDir, "*.cdxj")); len(got) != 0 {
		t.Errorf("indexes %q with --warc-cdxj=false", got)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"crawl", "--seed", "http://127.0.0.2/", "--warc-dir", t.TempDir(), "--warc-wacz", "--warc-cdxj=false"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "warc.wacz") {
		t.Errorf("exit %d, stderr %q; want %d naming warc.wacz", code, stderr.String(), exitUsage)
	}
}
