package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/testsite"
)

// `crawld crawl --warc-dir DIR` archives every page and robots.txt: the
// WARC files read back under strict validation with no finding, none is
// left .open, and each record's warc_file and warc_offset open the
// response record of its URL, with its digest.
func TestRun_CrawlWritesWARC(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 5})
	dir := t.TempDir()
	out, warcDir := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "warc")
	args := append([]string{"crawl", "--seed", site.SeedURL(), "--rate", "0", "--output", out, "--log-level", "warn",
		"--allow-cidr", "127.0.0.0/8", "--warc-dir", warcDir, "--warc-prefix", "test"}, domainFlags(site)...)
	recs := crawlRecords(t, out, args)
	archive := readArchive(t, warcDir)
	if len(recs) != len(site.URLs()) {
		t.Fatalf("%d records, want %d", len(recs), len(site.URLs()))
	}
	checkRecordsResolve(t, recs, archive)
	// Every page's response, and each host's robots.txt.
	robots := 0
	for _, r := range archive {
		for _, h := range site.Hosts() {
			if r.uri == "http://"+h+"/robots.txt" {
				robots++
			}
		}
	}
	if robots != len(site.Hosts()) || len(archive) != len(recs)+robots {
		t.Errorf("%d responses archived for %d records and %d robots.txt, want one each for %d hosts", len(archive), len(recs), robots, len(site.Hosts()))
	}
}

// checkRecordsResolve checks that each record's warc_file and warc_offset
// name a response of archive (see readArchive), or a revisit if the record
// says so, of its URL, with its digest.
func checkRecordsResolve(t *testing.T, recs []map[string]any, archive map[string]warcEntry) {
	t.Helper()
	for _, rec := range recs {
		file, _ := rec["warc_file"].(string)
		offset, _ := rec["warc_offset"].(float64)
		got, ok := archive[fmt.Sprintf("%s:%d", file, int64(offset))]
		want := gowarc.Response
		if rec["revisit"] != nil {
			want = gowarc.Revisit
		}
		if !ok || got.typ != want || got.uri != rec["url"] || got.digest != rec["digest"] {
			t.Errorf("record %v: the WARC holds %+v there (found: %v)", rec, got, ok)
		}
	}
}
