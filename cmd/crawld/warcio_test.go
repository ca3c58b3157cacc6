package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// warcioCLI returns the path of warcio.js's command-line tool (the npm
// package warcio), a second WARC reader independent of gowarc, from
// CRAWLD_WARCIO, which .ci/run sets after installing it. Without it the
// test is skipped, except under CI, where it fails: CI must not pass by
// skipping the reader.
func warcioCLI(t *testing.T) string {
	t.Helper()
	cli := os.Getenv("CRAWLD_WARCIO")
	switch {
	case cli != "":
		return cli
	case os.Getenv("CI") != "":
		t.Fatal("CRAWLD_WARCIO is not set under CI: .ci/run installs warcio.js and sets it to its CLI")
	default:
		t.Skip("CRAWLD_WARCIO not set (the path of warcio.js's CLI; .ci/run installs it): the second reader is not run")
	}
	return ""
}

// indexLine is a CDXJ line taken apart.
type indexLine struct {
	key, ts string
	fields  map[string]string
}

func parseIndex(t *testing.T, what, text string) []indexLine {
	t.Helper()
	var lines []indexLine
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		key, rest, _ := strings.Cut(l, " ")
		ts, js, _ := strings.Cut(rest, " ")
		var fields map[string]string
		if err := json.Unmarshal([]byte(js), &fields); err != nil {
			t.Fatalf("%s: line %q: %v", what, l, err)
		}
		lines = append(lines, indexLine{key, ts, fields})
	}
	slices.SortFunc(lines, func(a, b indexLine) int {
		return strings.Compare(a.key+" "+a.ts+" "+a.fields["filename"]+" "+a.fields["offset"], b.key+" "+b.ts+" "+b.fields["filename"]+" "+b.fields["offset"])
	})
	return lines
}

// warcio.js reads every WARC file a crawl writes (several pages, with a
// 404, a redirect and plain text; compressed and not) without an error,
// and its CDXJ indexer writes for each the lines crawld's NAME.cdxj holds:
// the same SURT keys, timestamps and json fields (url, mime, status,
// digest, length, offset, filename), no field of its own that crawld
// lacks, and none of crawld's it lacks.
func TestWARCIO_ReadsAndIndexesAsCrawld(t *testing.T) {
	cli := warcioCLI(t)
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			warcDir := crawlMixed(t, fmt.Sprintf("--warc-compress=%v", compress), "--warc-max-size", "2KiB")
			ext := map[bool]string{true: ".warc.gz", false: ".warc"}[compress]
			warcs, _ := filepath.Glob(filepath.Join(warcDir, "*"+ext))
			if len(warcs) < 2 {
				t.Fatalf("WARC files %q, want rotation at 2KiB", warcs)
			}
			// One run for all the files: node takes a while to start.
			names := make([]string, len(warcs))
			var ours strings.Builder
			for i, w := range warcs {
				names[i] = filepath.Base(w) // run in warcDir, so that its filenames are crawld's
				b, err := os.ReadFile(strings.TrimSuffix(w, ext) + ".cdxj")
				if err != nil {
					t.Fatal(err)
				}
				ours.Write(b)
			}
			cmd := exec.Command(cli, append([]string{"cdx-index"}, names...)...)
			cmd.Dir = warcDir
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() > 0 {
				t.Fatalf("warcio cdx-index: %v, stderr: %s", err, stderr.String())
			}
			theirs, mine := parseIndex(t, "warcio", string(out)), parseIndex(t, "crawld", ours.String())
			if len(theirs) != len(mine) {
				t.Fatalf("warcio indexes %d records, crawld %d:\n%s\n%s", len(theirs), len(mine), out, ours.String())
			}
			for i := range theirs {
				a, b := theirs[i], mine[i]
				if a.key != b.key || a.ts != b.ts {
					t.Errorf("warcio keys a record %q %q, crawld %q %q", a.key, a.ts, b.key, b.ts)
				}
				for k, v := range a.fields {
					if mv, ok := b.fields[k]; !ok {
						t.Errorf("warcio writes %s=%q for %s, crawld does not", k, v, a.fields["url"])
					} else if mv != v {
						t.Errorf("%s of %s: warcio %q, crawld %q", k, a.fields["url"], v, mv)
					}
				}
				for k, v := range b.fields {
					if _, ok := a.fields[k]; !ok {
						t.Errorf("crawld writes %s=%q for %s, warcio does not", k, v, b.fields["url"])
					}
				}
			}
			urls := len(mine)
			if urls < 7 { // the 7 pages of mixedSite, and robots.txt if archived
				t.Errorf("%d records indexed, want the site's 7 pages", urls)
			}
		})
	}
}
