package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/crawld/crawld/internal/testsite"
)

// measureFrontier runs a crawl of a count-only site, too big for measure:
// millions of records would take gigabytes buffered and the site keeps no
// request log, so records are checked as crawld writes them, and the
// frontier's size is read from crawld's progress lines, once a second.
func measureFrontier(ctx context.Context, binary string, sc scenario) (result, error) {
	site, err := testsite.Start(sc.site)
	if err != nil {
		return result{}, err
	}
	defer site.Close()
	// The spill files go under data_dir; a directory of our own keeps them
	// off the working tree, lets us measure them and is removed even if
	// crawld is killed. TMPDIR catches anything crawld puts in a temporary
	// directory instead.
	dataDir, err := os.MkdirTemp("", "crawlbench-frontier")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dataDir)
	args := append([]string{"crawl", "--seed", site.SeedURL(),
		"--rate", fmt.Sprint(sc.rate), "--burst", fmt.Sprint(sc.burst),
		"--log-level", "info", "--log-format", "json", "--progress-interval", "1s",
		"--allow-cidr", "127.0.0.0/8", "--data-dir", dataDir}, sc.args...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CRAWLD_ALLOW_DOMAINS="+strings.Join(site.Domains(), " "), "TMPDIR="+dataDir)
	records := newRecordChecker(site)
	recordLines := &lineWriter{line: records.record}
	progress := &progressWatcher{forward: os.Stderr, dataDir: dataDir}
	logLines := &lineWriter{line: progress.line}
	cmd.Stdout, cmd.Stderr = recordLines, logLines
	res, _, err := runCrawld(cmd, logLines.flush)
	if err != nil {
		return result{}, err
	}
	res.noLog = true
	recordLines.flush() // a partial last line is a truncated record, an error
	if res.pages, err = records.done(); err != nil {
		return result{}, err
	}
	if progress.seen {
		res.frontier = &progress.peak
	}
	return res, nil
}

// lineWriter hands every complete line written to it, without its newline,
// to line; the slice is only valid during the call.
type lineWriter struct {
	line func([]byte)
	buf  []byte // an incomplete line carried over to the next Write
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.line(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.line(p[:i])
		}
		p = p[i+1:]
	}
	w.buf = append(w.buf, p...)
	return n, nil
}

// flush hands over what is left after the last newline, if anything.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
}

// recordChecker checks JSONL records as they stream, with what countRecords
// checks (every page once, no error, nothing else) but one bit per page
// instead of a set of URLs, so that millions of records cost megabytes.
type recordChecker struct {
	site  *testsite.Site
	pages int    // per host
	seen  []bool // by host*pages + page
	n     int
	err   error // the first problem; later records are ignored
}

func newRecordChecker(site *testsite.Site) *recordChecker {
	cfg := site.Config()
	return &recordChecker{site: site, pages: cfg.PagesPerHost, seen: make([]bool, cfg.Hosts*cfg.PagesPerHost)}
}

// record checks one JSONL line.
func (c *recordChecker) record(line []byte) {
	if c.err != nil || len(bytes.TrimSpace(line)) == 0 {
		return
	}
	var rec struct {
		URL   string `json:"url"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		c.err = fmt.Errorf("bad record: %w", err)
		return
	}
	if rec.Error != "" {
		c.err = fmt.Errorf("error record: %s: %s", rec.URL, rec.Error)
		return
	}
	h, k, ok := c.site.Page(rec.URL)
	if !ok || c.site.PageURL(h, k) != rec.URL {
		c.err = fmt.Errorf("record for %s, not a page of the site in canonical form", rec.URL)
		return
	}
	i := h*c.pages + k
	if c.seen[i] {
		c.err = fmt.Errorf("repeated record for %s", rec.URL)
		return
	}
	c.seen[i] = true
	c.n++
}

// done returns the number of records, or the first problem, a page without
// a record included, so that a fast but incomplete crawl cannot pass.
func (c *recordChecker) done() (int, error) {
	if c.err != nil {
		return c.n, c.err
	}
	if c.n != len(c.seen) {
		for i, ok := range c.seen {
			if !ok {
				return c.n, fmt.Errorf("no record for %s (%d of %d pages recorded)",
					c.site.PageURL(i/c.pages, i%c.pages), c.n, len(c.seen))
			}
		}
	}
	return c.n, nil
}

// frontierPeak is the largest frontier crawld reported during a crawl.
type frontierPeak struct {
	queued    int   // URLs waiting, in memory or spilled
	spilled   int   // of them, those on disk
	diskBytes int64 // the data directory's size, sampled with each progress line
}

// progressWatcher reads crawld's JSON log: it keeps the peak of the
// frontier from the progress lines and passes on everything but info lines,
// so warnings and errors (an unknown flag, say) still reach the user.
type progressWatcher struct {
	forward io.Writer
	dataDir string // "" to skip sampling its size
	seen    bool   // a progress line had the frontier's size
	peak    frontierPeak
}

func (p *progressWatcher) line(l []byte) {
	var entry struct {
		Level    string `json:"level"`
		Msg      string `json:"msg"`
		Frontier *int   `json:"frontier"`
		Spilled  *int   `json:"spilled"`
	}
	if err := json.Unmarshal(l, &entry); err != nil || entry.Level != "info" {
		fmt.Fprintf(p.forward, "%s\n", l)
		return
	}
	if entry.Msg != "progress" || entry.Frontier == nil {
		return
	}
	p.seen = true
	p.peak.queued = max(p.peak.queued, *entry.Frontier)
	if entry.Spilled != nil {
		p.peak.spilled = max(p.peak.spilled, *entry.Spilled)
	}
	if p.dataDir != "" {
		p.peak.diskBytes = max(p.peak.diskBytes, liveDirSize(p.dataDir))
	}
}

// liveDirSize is dirSize for a directory that changes while it is walked:
// files that vanish meanwhile count as empty instead of failing the walk.
func liveDirSize(dir string) int64 {
	total, _ := walkSize(dir, true)
	return total
}
