// Package warc keeps what crawld fetches as WARC/1.1 files (ISO 28500), the
// format web archives read: for each HTTP exchange a request record and a
// response record (or a revisit record, for a payload already archived
// and for a 304), linked by WARC-Concurrent-To, with block and payload
// digests in SHA-1, base32 (the form CDXJ indexes and the Wayback
// Machine's tooling use), and a page's metadata record, in files that
// start with a warcinfo record, each with a CDXJ index beside it once
// complete; a crawl's files can be packaged as WACZ. Records are crawld's
// own (record.go), written by it under the field names of
// github.com/nlnwa/gowarc/v3, which reads and validates them; each is its
// own gzip member. Files are named and rotated here, and those a crash
// left open repaired. It records the exchanges as crawld's own client
// made them; it opens no connection of its own.
package warc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/nlnwa/gowarc/v3"
	"go.uber.org/zap"
)

// Config says where and how the files are written.
type Config struct {
	Dir      string // the directory, created if missing
	Prefix   string // the first part of every file name ("crawld" if empty)
	Node     string // the node writing, the last part of every name; unsafe characters become _
	MaxSize  int64  // a file is closed and a new one opened beyond about this many bytes; 0 or less means 1 GiB
	Compress bool   // each record its own gzip member, in NAME.warc.gz
	// Software names the writer in each file's warcinfo record, e.g.
	// "crawld/1.2.3 (+https://…)".
	Software string
	// Info are more warcinfo fields, in order: the crawl's settings that
	// matter to a reader of the archive (user agent, robots policy).
	Info [][2]string
	// Durable makes Sync fsync: with a frontier that survives a crash,
	// an item must not be done before its records are on disk.
	Durable bool
	// CDXJ writes each finished file's CDXJ index beside it (cdxj.go).
	CDXJ bool
	// Logger is told what Open's repair of files left .open by a crash
	// did; nil logs nothing.
	Logger *zap.Logger
	// Dedupe writes revisit records instead of responses for payloads
	// already archived and for 304s to conditional requests (see
	// Exchange.Previous); false writes every response in full.
	Dedupe bool
	// Digests is the index of archived payloads Dedupe consults; nil
	// means one in memory (NewMemoryDigests).
	Digests Digests
}

// Writer writes exchanges to WARC files. Safe for concurrent use; Close
// it to complete the file being written.
type Writer struct {
	cfg   Config
	names *names
	enc   encoders

	// mu is held while records are appended to the file, and so while
	// the file changes: the records of an exchange go together into one
	// file. They are built and encoded before, without it.
	mu      sync.Mutex
	batches chan *batch // free batches (see batch)

	originalsMu sync.Mutex
	originals   map[string]*originalWrite // by payload digest (ordering.go)

	cur     *file  // nil until the first write, and after Close
	infoID  string // the current file's warcinfo record
	broken  bool   // the current file ends in a partial record
	err     error  // a failed fsync: the writer is unusable (see Sync)
	closed  bool
	written uint64 // exchanges written
	flushed uint64 // exchanges handed to the operating system
	synced  uint64 // exchanges known durable

	done []string // the files finished, in order (see Files)

	syncMu sync.Mutex // one fsync at a time (see Sync)
}

// defaultMaxSize is the rotation size without Config.MaxSize.
const defaultMaxSize = 1 << 30

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Open returns a Writer for cfg. It creates the directory, and repairs the
// files a crash left .open there with this writer's prefix and node (see
// repair); the first file is created by the first write.
func Open(cfg Config) (*Writer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("warc: no directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("warc: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "crawld"
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = defaultMaxSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Dedupe && cfg.Digests == nil {
		cfg.Digests = NewMemoryDigests()
	}
	n := &names{dir: cfg.Dir, prefix: unsafeName.ReplaceAllString(cfg.Prefix, "_"),
		node: unsafeName.ReplaceAllString(cfg.Node, "_"), now: time.Now}
	w := &Writer{cfg: cfg, names: n, enc: newEncoders(cfg.Compress), batches: make(chan *batch, 2*runtime.GOMAXPROCS(0)),
		originals: make(map[string]*originalWrite)}
	if err := w.repair(); err != nil {
		return nil, err
	}
	return w, nil
}

// warcinfo is the record that starts the file name: who wrote it, and the
// crawl's settings a reader of the archive needs.
func (w *Writer) warcinfo(name string) (*record, error) {
	var id [1]string
	if err := recordIDs(id[:]); err != nil {
		return nil, err
	}
	r := newRecord(gowarc.Warcinfo, id[0], "", formatDate(time.Now()), gowarc.ApplicationWarcFields)
	r.add(gowarc.WarcFilename, name)
	var fields bytes.Buffer
	fmt.Fprintf(&fields, "software: %s\r\nformat: WARC File Format 1.1\r\nconformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n", w.cfg.Software)
	if host, err := os.Hostname(); err == nil {
		fmt.Fprintf(&fields, "hostname: %s\r\n", host)
	}
	for _, f := range w.cfg.Info {
		fmt.Fprintf(&fields, "%s: %s\r\n", f[0], f[1])
	}
	r.seal(nil, fields.Bytes(), false)
	return r, nil
}

// Exchange is one HTTP request and its response, as crawld's client made
// them.
type Exchange struct {
	URL      string    // the target URI
	Date     time.Time // when the request was sent
	IP       string    // the address connected to; "" if unknown
	Protocol string    // the protocol used ("http/1.1", "h2"); recorded in WARC-Protocol
	// Request is the request as written: request line and headers,
	// ending with an empty line.
	Request []byte
	// Status and Header are the response's; the status line is written
	// as HTTP/1.1 whatever the protocol was.
	Status int
	Header http.Header
	// Body is the payload: the entity body after transfer decoding.
	Body []byte
	// Truncated, if not "", says Body was cut short, and why, as
	// WARC-Truncated names it (WARC 1.1 §5.13): TruncatedLength (max_body),
	// TruncatedTime (a timeout), TruncatedDisconnect (the connection
	// failed).
	Truncated string
	// Metadata, if set, is written as a metadata record after the
	// response (see Metadata).
	Metadata *Metadata
	// Previous is the URL's last archived capture, if known: a 304
	// answering a conditional request refers to it (a server-not-modified
	// revisit).
	Previous Capture
}

// Location is where a response (or revisit) record was written: the
// file's name (without the .open suffix it has while written), the
// record's offset and length in it (gzip member included), and its
// payload digest (a revisit's: that of the payload it stands for).
type Location struct {
	File   string
	Offset int64
	Length int64
	Digest string
	// Revisit is the kind of revisit the record is (RevisitIdentical,
	// RevisitNotModified); "" for a response.
	Revisit string
	// Original is the capture holding the payload: the record itself, or
	// the one the revisit refers to.
	Original Capture
}

// WriteExchange writes ex as a request record and a response record (or a
// revisit record, see Config.Dedupe), and a metadata record with
// ex.Metadata, in one file, and returns where the response record is.
// Sync hands them to the operating system, and makes them durable. A
// revisit of a payload whose original another call is writing waits until
// that original is appended. ctx bounds the digest index's calls and that
// wait.
func (w *Writer) WriteExchange(ctx context.Context, ex Exchange) (Location, error) {
	date := formatDate(ex.Date)
	var ids [3]string // request, response, metadata
	if err := recordIDs(ids[:]); err != nil {
		return Location{}, err
	}
	req := w.requestRecord(ex, ids[0], date)
	resp := w.responseRecord(ex, ids[1], date)
	rv, err := w.revisitOf(ctx, ex, resp)
	// A revisit follows its original into the file (see ordering.go); an
	// original that failed gave its claim up, which is claimed anew.
	for tries := 0; err == nil && rv.kind == RevisitIdentical && tries < 3; tries++ {
		var written bool
		if written, err = w.awaitOriginal(ctx, rv.self.Digest); err != nil || written {
			break
		}
		rv, err = w.revisitOf(ctx, ex, resp)
	}
	if err == nil {
		resp = w.revisitRecord(rv, resp)
		var loc Location
		loc, err = w.writeExchange(ex, ids[2], date, req, resp, rv)
		if err == nil {
			w.endOriginal(rv.self.Digest, rv.writing, false)
			return loc, nil
		}
	}
	// Its claim given up before a revisit waiting for it learns that it
	// failed, so that the revisit's new claim is not found again.
	uerr := w.unclaim(ctx, rv)
	w.endOriginal(rv.self.Digest, rv.writing, true)
	return Location{}, errors.Join(err, uerr)
}

// writeExchange writes ex's request record req and its response (or
// revisit) record resp, as rv made it, and its metadata record.
func (w *Writer) writeExchange(ex Exchange, metaID, date string, req, resp *record, rv revisit) (Location, error) {
	resp.add(gowarc.WarcConcurrentTo, "<"+req.id+">")
	records := []*record{req, resp}
	if ex.Metadata != nil {
		records = append(records, w.metadataRecord(ex, metaID, date, resp))
	}
	spans, err := w.write(records...)
	if err != nil {
		return Location{}, fmt.Errorf("warc: write %s: %w", ex.URL, err)
	}
	return Location{File: spans[1].file, Offset: spans[1].offset, Length: spans[1].length,
		Digest: resp.payloadDigest, Revisit: rv.kind, Original: rv.original()}, nil
}

// span is where a record was written.
type span struct {
	file           string
	offset, length int64
}

// write appends records to one file, opening the first or the next one
// if need be, and returns where each went. The records are encoded before
// the lock is taken, naming the file's warcinfo record as it was then;
// in the rare case that the file changed meanwhile, they are encoded
// again.
func (w *Writer) write(records ...*record) ([]span, error) {
	w.mu.Lock()
	infoID := w.infoID
	w.mu.Unlock()
	b := w.batch()
	defer w.release(b)
	if err := w.encode(b, infoID, records); err != nil {
		return nil, err
	}
	entries := w.entries(records)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.cur != nil && (w.broken || w.cur.size >= w.cfg.MaxSize) {
		if err := w.finishFile(); err != nil {
			w.err = err
			return nil, err
		}
	}
	if w.cur == nil {
		if err := w.createFile(); err != nil {
			return nil, err
		}
	}
	if w.infoID != infoID {
		if err := w.encode(b, w.infoID, records); err != nil {
			return nil, err
		}
	}
	spans := make([]span, len(records))
	start := int64(0)
	for i, end := range b.ends {
		spans[i] = span{file: w.cur.name, offset: w.cur.size + start, length: end - start}
		start = end
	}
	if err := w.appendBytes(b.buf.Bytes()); err != nil {
		return nil, err
	}
	w.index(entries, spans)
	w.written++
	return spans, nil
}

// batch is the encoding of the records one write appends: their bytes,
// and where each ends in them. Batches are reused (Writer.batches), their
// buffers grown to the size of a page's records.
type batch struct {
	buf  bytes.Buffer
	ends []int64
}

// maxKeptBatch is the largest buffer a batch is kept with for reuse: a
// page of a few hundred KiB, not one of max_body.
const maxKeptBatch = 256 << 10

// batch returns a batch to encode records in.
func (w *Writer) batch() *batch {
	select {
	case b := <-w.batches:
		return b
	default:
		return &batch{}
	}
}

// release keeps b for the next write, unless its buffer grew large.
func (w *Writer) release(b *batch) {
	if b.buf.Cap() > maxKeptBatch {
		return
	}
	select {
	case w.batches <- b:
	default:
	}
}

// encode encodes records one after another into b, naming infoID as their
// warcinfo record.
func (w *Writer) encode(b *batch, infoID string, records []*record) error {
	b.buf.Reset()
	b.ends = b.ends[:0]
	for _, rec := range records {
		if err := w.enc.encode(&b.buf, rec, infoID); err != nil {
			return err
		}
		b.ends = append(b.ends, int64(b.buf.Len()))
	}
	return nil
}

// usable says why nothing more may be written, if so. With w.mu held.
func (w *Writer) usable() error {
	if w.closed {
		return errors.New("warc: writer closed")
	}
	return w.err
}

func (w *Writer) requestRecord(ex Exchange, id, date string) *record {
	r := exchangeRecord(gowarc.Request, ex, id, date, "application/http;msgtype=request")
	r.seal(ex.Request, nil, true)
	return r
}

func (w *Writer) responseRecord(ex Exchange, id, date string) *record {
	r := exchangeRecord(gowarc.Response, ex, id, date, "application/http;msgtype=response")
	if ex.Truncated != "" {
		r.add(gowarc.WarcTruncated, ex.Truncated)
	}
	r.status, r.mime = ex.Status, mediaType(ex.Header.Get("Content-Type"))
	r.seal(responseHead(ex.Status, ex.Header, len(ex.Body)), ex.Body, true)
	return r
}

// exchangeRecord returns a record of type t of ex, with the fields every
// record of an exchange carries.
func exchangeRecord(t gowarc.RecordType, ex Exchange, id, date, contentType string) *record {
	r := newRecord(t, id, ex.URL, date, contentType)
	if ex.IP != "" {
		r.add(gowarc.WarcIPAddress, ex.IP)
	}
	if ex.Protocol != "" {
		r.add("WARC-Protocol", ex.Protocol)
	}
	return r
}

// Sync hands every exchange written before it to the operating system
// (so that a record pointing at it is never read before it can be), and,
// if the writer was opened with Config.Durable, makes them durable, so
// that an item is marked done only once its records would survive a
// machine crash. Both are group commits: one write, or one fsync, covers
// every exchange written before it started, and none is made if nothing
// was written since. A failed fsync leaves the writer failed for good:
// what the kernel did not write may be lost without another error to say
// so.
func (w *Writer) Sync() error {
	w.mu.Lock()
	want := w.written
	err := w.flush()
	w.mu.Unlock()
	if err != nil || !w.cfg.Durable {
		return err
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	// What was flushed, not what was written: exchanges written since
	// this caller's flush may still be in the buffer, which the fsync
	// would not cover.
	upTo, cur, err := w.flushed, w.cur, w.err
	done := w.synced >= want
	w.mu.Unlock()
	if err != nil || done {
		return err
	}
	if cur != nil {
		err = cur.f.Sync()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(err, os.ErrClosed) && w.synced >= upTo {
		err = nil // the file was finished, and fsynced, since
	}
	if err != nil {
		w.err = fmt.Errorf("warc: sync %s: %w", cur.name, err)
		return w.err
	}
	w.synced = max(w.synced, upTo)
	return nil
}

// Close completes the file being written (fsynced and renamed without
// .open); nothing can be written after it.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return errors.Join(w.err, w.finishFile())
}
