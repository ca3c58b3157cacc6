package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/warc"
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
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	responses := archivedResponses(t, warcDir)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data)
	if len(recs) != len(site.URLs()) {
		t.Fatalf("%d records, want %d", len(recs), len(site.URLs()))
	}
	checkRecordsResolve(t, recs, responses)
	// Every page's response, and each host's robots.txt.
	robots := 0
	for _, r := range responses {
		for _, h := range site.Hosts() {
			if r.url == "http://"+h+"/robots.txt" {
				robots++
			}
		}
	}
	if robots != len(site.Hosts()) || len(responses) != len(recs)+robots {
		t.Errorf("%d responses archived for %d records and %d robots.txt, want one each for %d hosts", len(responses), len(recs), robots, len(site.Hosts()))
	}
}

// archived is a response (or revisit) record: its URL and payload digest.
type archived struct{ url, digest string }

// archivedResponses reads every WARC file in dir under strict validation,
// failing the test at any finding or at a file left .open, and returns
// the response and revisit records by "file:offset".
func archivedResponses(t *testing.T, dir string) map[string]archived {
	t.Helper()
	responses := make(map[string]archived)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		switch {
		case strings.HasSuffix(f, ".open"):
			t.Errorf("%s left unfinished", filepath.Base(f))
			continue
		case !strings.HasSuffix(f, ".warc.gz") && !strings.HasSuffix(f, ".warc"):
			continue
		}
		err := warc.Each(f, func(rec gowarc.WarcRecord, offset int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s at %d: %v", filepath.Base(f), offset, findings)
			}
			if rec.Type() == gowarc.Response || rec.Type() == gowarc.Revisit {
				responses[fmt.Sprintf("%s:%d", filepath.Base(f), offset)] = archived{rec.WarcHeader().Get(gowarc.WarcTargetURI), rec.WarcHeader().Get(gowarc.WarcPayloadDigest)}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return responses
}

// checkRecordsResolve checks that each record's warc_file and warc_offset
// name one of responses, of its URL, with its digest.
func checkRecordsResolve(t *testing.T, recs []map[string]any, responses map[string]archived) {
	t.Helper()
	for _, rec := range recs {
		file, _ := rec["warc_file"].(string)
		offset, _ := rec["warc_offset"].(float64)
		got, ok := responses[fmt.Sprintf("%s:%d", file, int64(offset))]
		if !ok || got.url != rec["url"] || got.digest != rec["digest"] {
			t.Errorf("record %v: the WARC holds %+v there (found: %v)", rec, got, ok)
		}
	}
}
