package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/testsite"
)

// `crawld crawl --warc-dir DIR` archives every page: the WARC files read
// back under strict validation with no finding, none is left .open, and
// each record's warc_file and warc_offset open the response record of its
// URL, with its digest.
func TestRun_CrawlWritesWARC(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 5})
	dir := t.TempDir()
	out, warcDir := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "warc")
	args := append([]string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--output", out, "--log-level", "warn",
		"--allow-cidr", "127.0.0.0/8", "--warc-dir", warcDir, "--warc-prefix", "test"}, domainFlags(site)...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	archive := readArchive(t, warcDir)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data)
	if len(recs) != len(site.URLs()) {
		t.Fatalf("%d records, want %d", len(recs), len(site.URLs()))
	}
	for _, rec := range recs {
		file, _ := rec["warc_file"].(string)
		offset, _ := rec["warc_offset"].(float64)
		got, ok := archive[fmt.Sprintf("%s:%d", file, int64(offset))]
		if !ok || got.typ != gowarc.Response || got.uri != rec["url"] || got.digest != rec["digest"] {
			t.Errorf("record %v: the WARC holds %+v there (found: %v)", rec, got, ok)
		}
	}
	if len(archive) != len(recs) {
		t.Errorf("%d responses archived for %d records", len(archive), len(recs))
	}
}
