package warc

import (
	"archive/zip"
	"bufio"
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WACZ (Web Archive Collection Zipped, version 1.1.1 of the spec) is the
// package ReplayWeb.page opens as one file: a zip holding the WARC files
// under archive/ (stored, not deflated, so that a reader can seek into
// them), their CDXJ merged into one sorted indexes/index.cdxj, the pages
// to browse in pages/pages.jsonl, and datapackage.json listing every
// file with its size and SHA-256, itself hashed in
// datapackage-digest.json.

// waczVersion is the version of the WACZ spec the packages follow.
const waczVersion = "1.1.1"

// Package writes the WARC files the writer finished (call it after Close)
// into one WACZ beside them, DIR/PREFIX-TIMESTAMP.wacz (the timestamp
// created's, to the millisecond, as in the WARC names), and returns its
// path. It needs each file's CDXJ, and writes it where it is missing.
func (w *Writer) Package(created time.Time) (string, error) {
	ts := strings.Replace(created.UTC().Format("20060102150405.000"), ".", "", 1)
	path := filepath.Join(w.cfg.Dir, fmt.Sprintf("%s-%s.wacz", w.names.prefix, ts))
	return path, WriteWACZ(path, w.Files(), w.cfg.Software, created)
}

// waczResource is a file of the package, as datapackage.json lists it.
type waczResource struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Hash  string `json:"hash"`
	Bytes int64  `json:"bytes"`
}

// waczPage is a line of pages/pages.jsonl.
type waczPage struct {
	URL string `json:"url"`
	TS  string `json:"ts"`
}

// pagesHeader is the first line of pages/pages.jsonl.
const pagesHeader = `{"format":"json-pages-1.0","id":"pages","title":"All Pages"}`

// WriteWACZ writes the WARC files warcs (paths; each with its CDXJ beside
// it, written here if missing) as a WACZ package at dst, made by software
// at created. The pages are the HTML responses with status 200, without
// titles (crawld keeps none). The package is written through dst.open,
// fsynced and renamed: a crash leaves it whole or absent.
func WriteWACZ(dst string, warcs []string, software string, created time.Time) error {
	if len(warcs) == 0 {
		return errors.New("wacz: no WARC file to package")
	}
	indexes := make([]string, len(warcs))
	for i, p := range warcs {
		indexes[i] = CDXJPath(p)
		if _, err := os.Stat(indexes[i]); errors.Is(err, os.ErrNotExist) {
			if err := IndexFile(p); err != nil {
				return err
			}
		}
	}
	err := replaceAtomically(dst, func(w io.Writer) error { return writeWACZ(w, warcs, indexes, software, created) })
	if err != nil {
		return fmt.Errorf("wacz: %s: %w", filepath.Base(dst), err)
	}
	return nil
}

// writeWACZ writes the package to f.
func writeWACZ(f io.Writer, warcs, indexes []string, software string, created time.Time) error {
	buf := bufio.NewWriterSize(f, 1<<20)
	z := &waczWriter{zip: zip.NewWriter(buf), modified: created}
	for _, p := range warcs {
		err := z.entry("archive/"+filepath.Base(p), zip.Store, func(w io.Writer) error {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(w, in)
			return err
		})
		if err != nil {
			return err
		}
	}
	var pages pageList
	err := z.entry("indexes/index.cdxj", zip.Deflate, func(w io.Writer) error {
		return mergeLines(indexes, func(line string) error {
			pages.add(line)
			_, err := io.WriteString(w, line+"\n")
			return err
		})
	})
	if err != nil {
		return err
	}
	err = z.entry("pages/pages.jsonl", zip.Deflate, func(w io.Writer) error {
		lines := []string{pagesHeader}
		for _, p := range pages.list() {
			lines = append(lines, jsonLine(p))
		}
		_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
		return err
	})
	if err != nil {
		return err
	}
	pkg, _ := json.MarshalIndent(struct { // strings and numbers only: it does not fail
		Profile   string         `json:"profile"`
		Version   string         `json:"wacz_version"`
		Created   string         `json:"created"`
		Software  string         `json:"software"`
		Resources []waczResource `json:"resources"`
	}{"data-package", waczVersion, created.UTC().Format(time.RFC3339), software, z.resources}, "", "  ")
	if err := z.entry("datapackage.json", zip.Deflate, writeBytes(pkg)); err != nil {
		return err
	}
	sum := sha256.Sum256(pkg)
	digest, _ := json.MarshalIndent(struct {
		Path string `json:"path"`
		Hash string `json:"hash"`
	}{"datapackage.json", "sha256:" + hex.EncodeToString(sum[:])}, "", "  ")
	if err := z.entry("datapackage-digest.json", zip.Deflate, writeBytes(digest)); err != nil {
		return err
	}
	if err := z.zip.Close(); err != nil {
		return err
	}
	return buf.Flush()
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
}

// waczWriter writes the entries of a package and notes each one's size
// and SHA-256 for datapackage.json.
type waczWriter struct {
	zip       *zip.Writer
	modified  time.Time
	resources []waczResource
}

// entry writes an entry named name, its content written by fill.
func (z *waczWriter) entry(name string, method uint16, fill func(io.Writer) error) error {
	w, err := z.zip.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: z.modified})
	if err != nil {
		return err
	}
	sum := sha256.New()
	c := &counter{w: io.MultiWriter(w, sum)}
	if err := fill(c); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	z.resources = append(z.resources, waczResource{Name: filepath.Base(name), Path: name,
		Hash: "sha256:" + hex.EncodeToString(sum.Sum(nil)), Bytes: c.n})
	return nil
}

// pageList gathers the pages of a package from its index lines: each HTML
// response with status 200, and each revisit (status 200) of a payload
// that one of them holds, a page whose copy the archive stores once.
type pageList struct {
	candidates []pageCandidate
	html       map[string]bool // the payload digests of HTML pages
}

type pageCandidate struct {
	page    waczPage
	revisit string // the payload digest a revisit needs to be an HTML page's; "" for a page
}

// add takes the index line's page, if it may be one.
func (l *pageList) add(line string) {
	_, rest, _ := strings.Cut(line, " ")
	ts, js, _ := strings.Cut(rest, " ")
	var f cdxjFields
	if json.Unmarshal([]byte(js), &f) != nil || f.Status != "200" {
		return
	}
	t, err := time.Parse("20060102150405", ts)
	if err != nil {
		return
	}
	c := pageCandidate{page: waczPage{URL: f.URL, TS: t.Format(time.RFC3339)}}
	switch f.Mime {
	case "text/html", "application/xhtml+xml":
		if l.html == nil {
			l.html = make(map[string]bool)
		}
		l.html[f.Digest] = true
	case "warc/revisit":
		c.revisit = f.Digest
	default:
		return
	}
	l.candidates = append(l.candidates, c)
}

// list returns the pages, in index order.
func (l *pageList) list() []waczPage {
	var pages []waczPage
	for _, c := range l.candidates {
		if c.revisit == "" || l.html[c.revisit] {
			pages = append(pages, c.page)
		}
	}
	return pages
}

// mergeLines calls fn with the lines of the sorted files paths, in byte
// order: a k-way merge holding one line per file.
func mergeLines(paths []string, fn func(string) error) error {
	h := &lineHeap{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 64<<10), 16<<20)
		if s.Scan() {
			heap.Push(h, lineSource{s.Text(), s})
		} else if err := s.Err(); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	for h.Len() > 0 {
		top := (*h)[0]
		if err := fn(top.line); err != nil {
			return err
		}
		if top.s.Scan() {
			(*h)[0].line = top.s.Text()
			heap.Fix(h, 0)
			continue
		}
		if err := top.s.Err(); err != nil {
			return err
		}
		heap.Pop(h)
	}
	return nil
}

// lineSource is a file's next line in a merge.
type lineSource struct {
	line string
	s    *bufio.Scanner
}

// lineHeap orders the files of a merge by their next line.
type lineHeap []lineSource

func (h lineHeap) Len() int           { return len(h) }
func (h lineHeap) Less(i, j int) bool { return h[i].line < h[j].line }
func (h lineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lineHeap) Push(x any)        { *h = append(*h, x.(lineSource)) }
func (h *lineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
