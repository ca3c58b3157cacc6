package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/testsite"
)

// `crawld run` killed with SIGKILL while it archives, and started again:
// the file the kill left .open is repaired (cut after its last whole
// record, renamed) and the crawl completes; then every WARC file reads
// back under strict validation with no finding, none is left .open, and
// every record of the JSONL output, from either run, opens a response
// record of its URL with its digest.
func TestDaemon_WARCSurvivesKill9(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 60, Padding: 8 << 10})
	dir := t.TempDir()
	out, warcDir := filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "warc")
	args := append([]string{"--seed", site.SeedURL(), "--storage", "pebble", "--data-dir", filepath.Join(dir, "state"),
		"--rate", "25", "--output", out, "--warc-dir", warcDir, "--node-id", "node1"}, domainFlags(site)...)

	first := startDaemon(t, args...)
	waitFor(t, "pages archived", 30*time.Second, func() bool {
		data, _ := os.ReadFile(out)
		return bytes.Count(data, []byte("\n")) >= 20
	})
	first.stop(t, syscall.SIGKILL)
	open, _ := filepath.Glob(filepath.Join(warcDir, "*.open"))
	if len(open) != 1 {
		t.Fatalf("files .open after the kill: %v, want the one being written", open)
	}
	// A kill lands between two writes more often than in one: cut a
	// record short at the file's end, as a kill in the middle of its
	// write leaves it.
	partial := appendPartialRecord(t, open[0])

	second := startDaemon(t, args...)
	waitFor(t, "the crawl to finish", 60*time.Second, func() bool { return second.status(t).State == "idle" })
	if code := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("second run exit code %d; log:\n%s", code, second.log())
	}
	if cut, ok := repairLogged(second.log(), filepath.Base(open[0])); !ok || cut < partial {
		t.Errorf("the repair of %s logged (%v) %d bytes cut, want at least the %d of the partial record; log:\n%s",
			filepath.Base(open[0]), ok, cut, partial, second.log())
	}

	archive := readArchive(t, warcDir)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, data)
	checkRecordsResolve(t, recs, archive)
	firstFile := strings.TrimSuffix(filepath.Base(open[0]), ".open")
	fromFirst := 0
	for _, rec := range recs {
		if rec["warc_file"] == firstFile {
			fromFirst++
		}
	}
	if fromFirst < 20 {
		t.Errorf("%d records point into the first run's file %s, want the 20 or more written before the kill", fromFirst, firstFile)
	}
	if got := recordsByURL(t, out); len(got) != len(site.URLs()) {
		t.Errorf("records cover %d URLs, want the site's %d", len(got), len(site.URLs()))
	}
}

// appendPartialRecord appends to the WARC file at path the first half of
// its first record (its gzip member, if compressed), and returns how many
// bytes that is.
func appendPartialRecord(t *testing.T, path string) int64 {
	t.Helper()
	r, err := gowarc.NewWarcFileReader(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	_ = rec.WarcRecord.Close()
	_ = r.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:rec.Size/2]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.Size / 2
}

// repairLogged returns the cut_bytes of the log line saying file was
// repaired, and whether there is one.
func repairLogged(log, file string) (int64, bool) {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var entry struct {
			Msg      string `json:"msg"`
			File     string `json:"file"`
			CutBytes int64  `json:"cut_bytes"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.File == file &&
			entry.Msg == "WARC file left open by a crash repaired: cut after its last whole record" {
			return entry.CutBytes, true
		}
	}
	return 0, false
}
