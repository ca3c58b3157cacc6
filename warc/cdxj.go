package warc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nlnwa/gowarc/v3"
)

// A CDXJ index (the form pywb, ReplayWeb.page and WACZ read) has one line
// per archived response or revisit: `SURT TIMESTAMP {json}`, sorted in
// byte order, the json giving url, mime, status, digest, length, offset
// and filename in that order and in the forms warcio.js's and pywb's
// indexers write (numbers as strings, the digest without its "sha1:", the
// mime without parameters). crawld writes NAME.cdxj beside each finished NAME.warc.gz
// (or NAME.warc): the lines are gathered as the records are written, a
// few hundred bytes each (the line: about 190 bytes with a 45-byte file
// name, and twice the URL's length; plus Go's 16-byte string header), and
// written sorted when the file is complete.

// CDXJPath returns the path of the index of the WARC file at warcPath:
// NAME.cdxj beside NAME.warc.gz or NAME.warc.
func CDXJPath(warcPath string) string {
	return strings.TrimSuffix(strings.TrimSuffix(warcPath, ".gz"), ".warc") + ".cdxj"
}

// cdxjFields is the json of an index line, in the order warcio.js writes
// it; absent values are left out, as it leaves them.
type cdxjFields struct {
	URL      string `json:"url,omitempty"`
	Mime     string `json:"mime,omitempty"`
	Status   string `json:"status,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Length   string `json:"length"`
	Offset   string `json:"offset"`
	Filename string `json:"filename"`
}

// indexed says whether rec gets an index line: as in warcio.js and pywb,
// every record but requests, warcinfo, and metadata or resource records
// of WARC fields (crawld's outlinks). A request's line would be its
// response's, which has its own.
func indexed(rec gowarc.WarcRecord) bool {
	switch rec.Type() {
	case gowarc.Request, gowarc.Warcinfo:
		return false
	case gowarc.Metadata, gowarc.Resource:
		return rec.WarcHeader().Get(gowarc.ContentType) != gowarc.ApplicationWarcFields
	}
	return true
}

// cdxjEntry is a record's index line before its place in the file is
// known: the key (SURT and timestamp) and the json.
type cdxjEntry struct {
	key            string
	fields         cdxjFields
	offset, length int64 // the record's place in the file, as the index gives it
	// head is lineHead's, made while the place is not yet known.
	head string
}

// newCDXJEntry returns the entry of rec, in the file named file, and
// false for a record not indexed.
func newCDXJEntry(rec gowarc.WarcRecord, file string) (cdxjEntry, bool) {
	if !indexed(rec) {
		return cdxjEntry{}, false
	}
	h := rec.WarcHeader()
	uri := h.Get(gowarc.WarcTargetURI)
	f := cdxjFields{URL: uri, Filename: file}
	if _, digest, ok := strings.Cut(h.Get(gowarc.WarcPayloadDigest), ":"); ok {
		f.Digest = digest
	}
	switch rec.Type() {
	case gowarc.Response, gowarc.Revisit:
		if b, ok := rec.Block().(gowarc.ProtocolHeaderBlock); ok {
			f.Status, f.Mime = httpHead(b.ProtocolHeaderBytes())
		}
		if rec.Type() == gowarc.Revisit {
			f.Mime = "warc/revisit"
		}
	default:
		f.Mime = h.Get(gowarc.ContentType)
	}
	return cdxjEntry{key: SURT(uri) + " " + timestamp14(h.Get(gowarc.WarcDate)), fields: f}, true
}

// line is the entry's index line.
func (e cdxjEntry) line() string {
	return e.lineAt(e.lineHead(), e.fields.Filename, e.offset, e.length)
}

// lineHead is the start of the entry's line, up to the fields its place
// in the file gives (length, offset, filename), when its strings need no
// escaping; "" otherwise. It is what the JSON encoder writes, without
// its reflection, which was most of the index's cost at a few µs a line.
func (e cdxjEntry) lineHead() string {
	f := e.fields
	if !plainJSON(f.URL, f.Mime, f.Status, f.Digest) {
		return ""
	}
	var b strings.Builder
	b.Grow(len(e.key) + len(f.URL) + len(f.Mime) + len(f.Digest) + 48)
	b.WriteString(e.key)
	b.WriteString(" {")
	for _, kv := range [...][2]string{{"url", f.URL}, {"mime", f.Mime}, {"status", f.Status}, {"digest", f.Digest}} {
		if kv[1] != "" {
			b.WriteByte('"')
			b.WriteString(kv[0])
			b.WriteString(`":"`)
			b.WriteString(kv[1])
			b.WriteString(`",`)
		}
	}
	return b.String()
}

// lineAt is the entry's line for its place in the file named file, from
// head, its lineHead.
func (e cdxjEntry) lineAt(head, file string, offset, length int64) string {
	if head == "" || !plainJSON(file) {
		f := e.fields
		f.Filename, f.Offset, f.Length = file, strconv.FormatInt(offset, 10), strconv.FormatInt(length, 10)
		return e.key + " " + jsonLine(f)
	}
	var num [20]byte
	var b strings.Builder
	b.Grow(len(head) + len(file) + 72)
	b.WriteString(head)
	b.WriteString(`"length":"`)
	b.Write(strconv.AppendInt(num[:0], length, 10))
	b.WriteString(`","offset":"`)
	b.Write(strconv.AppendInt(num[:0], offset, 10))
	b.WriteString(`","filename":"`)
	b.WriteString(file)
	b.WriteString(`"}`)
	return b.String()
}

// plainJSON says whether strings are written in JSON as they are, between
// quotes: printable ASCII without quotes or backslashes.
func plainJSON(strings ...string) bool {
	for _, s := range strings {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return false
			}
		}
	}
	return true
}

// jsonLine is v, made of strings and numbers, in JSON on one line,
// without escaping <, > and & (as JavaScript's JSON.stringify).
func jsonLine(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and numbers only: it does not fail
	return strings.TrimSuffix(b.String(), "\n")
}

// indexLength is the length an index gives a record n bytes long as
// written: in an uncompressed file, without the two CRLFs that end it, as
// warcio.js and pywb's warcio count it (a reader needs only the header
// and the block); in a .warc.gz, its whole gzip member.
func indexLength(compressed bool, n int64) int64 {
	if compressed {
		return n
	}
	return n - int64(len("\r\n\r\n"))
}

// timestamp14 is a WARC-Date as a CDXJ timestamp: its first 14 digits,
// YYYYMMDDhhmmss.
func timestamp14(date string) string {
	ts := make([]byte, 0, 14)
	for i := 0; i < len(date) && len(ts) < cap(ts); i++ {
		if c := date[i]; c >= '0' && c <= '9' {
			ts = append(ts, c)
		}
	}
	return string(ts)
}

// httpHead returns the status code of an HTTP response head and its
// Content-Type without parameters; "" for what it lacks.
func httpHead(head []byte) (status, mime string) {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	line, err := r.ReadLine()
	if err != nil {
		return "", ""
	}
	if fields := strings.Fields(line); len(fields) > 1 {
		if _, err := strconv.Atoi(fields[1]); err == nil {
			status = fields[1]
		}
	}
	h, _ := r.ReadMIMEHeader() // what was read before an error is kept
	return status, mediaType(h.Get("Content-Type"))
}

// mediaType is a Content-Type without its parameters, as the index gives
// it.
func mediaType(contentType string) string {
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(ct)
}

// entries are the index entries of records, nil for those not indexed
// (and for all without Config.CDXJ). They are made before the records'
// place is known, without w.mu, so that the workers make them in
// parallel.
func (w *Writer) entries(records []*record) []*cdxjEntry {
	if !w.cfg.CDXJ {
		return nil
	}
	entries := make([]*cdxjEntry, len(records))
	for i, rec := range records {
		if !rec.indexed() {
			continue
		}
		f := cdxjFields{URL: rec.uri, Mime: rec.mime}
		_, f.Digest, _ = strings.Cut(rec.payloadDigest, ":")
		if rec.status != 0 {
			f.Status = strconv.Itoa(rec.status)
		}
		if rec.typ == gowarc.Revisit {
			f.Mime = "warc/revisit"
		}
		e := &cdxjEntry{key: SURT(rec.uri) + " " + timestamp14(rec.date), fields: f}
		e.head = e.lineHead()
		entries[i] = e
	}
	return entries
}

// indexed says whether the writer's record rec gets an index line: its
// responses and revisits (see indexed).
func (rec *record) indexed() bool {
	return rec.typ == gowarc.Response || rec.typ == gowarc.Revisit
}

// index keeps the entries of records written at spans for the current
// file's index. With w.mu held.
func (w *Writer) index(entries []*cdxjEntry, spans []span) {
	for i, e := range entries {
		if e != nil {
			w.cur.cdxj = append(w.cur.cdxj, e.lineAt(e.head, spans[i].file, spans[i].offset, indexLength(w.cfg.Compress, spans[i].length)))
		}
	}
}

// fileDone is called when the WARC file cur is complete at path: the
// writer remembers it (for Files) and writes its index.
func (w *Writer) fileDone(path string, cur *file) error {
	w.done = append(w.done, path)
	if !w.cfg.CDXJ {
		return nil
	}
	return writeCDXJ(CDXJPath(path), cur.cdxj)
}

// IndexFile writes the CDXJ index of the finished WARC file at warcPath
// (NAME.cdxj beside it) from its records, the lines the writer writes for
// the file it completes: for a file whose index was not written as it was
// (one repaired after a crash, or written with Config.CDXJ off).
func IndexFile(warcPath string) error {
	lines, err := indexLines(warcPath)
	if err != nil {
		return err
	}
	return writeCDXJ(CDXJPath(warcPath), lines)
}

// indexLines reads the WARC file at path and returns its index lines,
// unsorted.
func indexLines(path string) ([]string, error) {
	name := filepath.Base(path)
	compressed := strings.HasSuffix(name, ".gz")
	var lines []string
	err := Each(path, func(rec gowarc.WarcRecord, offset, size int64, _ []error) error {
		if e, ok := newCDXJEntry(rec, name); ok {
			e.offset, e.length = offset, indexLength(compressed, size)
			lines = append(lines, e.line())
		}
		return nil
	})
	return lines, err
}

// writeCDXJ writes lines, sorted, to path: through NAME.cdxj.open,
// fsynced and renamed, so that a crash leaves the whole index or none.
func writeCDXJ(path string, lines []string) error {
	slices.Sort(lines)
	err := replaceAtomically(path, func(w io.Writer) error {
		buf := bufio.NewWriterSize(w, 64<<10)
		for _, line := range lines {
			_, _ = io.WriteString(buf, line+"\n") // a failure sticks to buf, for Flush
		}
		return buf.Flush()
	})
	if err != nil {
		return fmt.Errorf("warc: index %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Files returns the paths of the WARC files the writer has finished, in
// the order it finished them; after Close, every file it wrote.
func (w *Writer) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.done)
}
