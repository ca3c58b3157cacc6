package crawler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Record is the outcome of one admitted URL: the output record of the
// user-facing contract, written as one JSON object per line.
type Record struct {
	URL         string    `json:"url"`
	FinalURL    string    `json:"final_url"`
	Status      int       `json:"status"` // 0 when the fetch failed
	Depth       int       `json:"depth"`
	ContentType string    `json:"content_type"`
	Bytes       int64     `json:"bytes"`
	Links       int       `json:"links"` // distinct links found on the page, before filtering
	FetchedAt   time.Time `json:"fetched_at"`
	DurationMS  int64     `json:"duration_ms"`
	Error       string    `json:"error,omitempty"`
	// ErrorKind sorts Error into a few stable values (dns, connect,
	// timeout, tls, blocked_address, robots, http_status, …: the kind
	// constants of kinds.go), set where the failure happened, never taken
	// from Error's text; "" exactly when Error is.
	ErrorKind string `json:"error_kind,omitempty"`
	Noindex   bool   `json:"noindex,omitempty"`  // robots meta tag or X-Robots-Tag: noindex
	Nofollow  bool   `json:"nofollow,omitempty"` // robots meta tag or X-Robots-Tag: nofollow; its links were not followed
	Node      string `json:"node,omitempty"`     // the node that fetched the page, in a crawl shared over Redis
	// Digest is the payload's SHA-1, "sha1:" and base32, as WARC and CDXJ
	// write it; with an archive only.
	Digest string `json:"digest,omitempty"`
	// WARCFile, WARCOffset and WARCLength locate the response record a
	// WARC reader should open for the page (its gzip member, when
	// compressed); with an archive only.
	WARCFile   string `json:"warc_file,omitempty"`
	WARCOffset int64  `json:"warc_offset,omitempty"`
	WARCLength int64  `json:"warc_length,omitempty"`
	// Revisit says the record at the location is a revisit record, of
	// this kind: identical-payload-digest (a payload archived before,
	// by any URL) or server-not-modified (a 304 to a recrawl's
	// conditional request); with an archive only.
	Revisit string `json:"revisit,omitempty"`
}

// Sink receives every record. Write is called from many workers at once and
// must be safe for concurrent use; an error from it ends the crawl, since
// records would otherwise be lost silently.
type Sink interface {
	Write(Record) error
}

// Syncer is implemented by a Sink whose records can be made durable (an
// output file). The crawler then calls Sync after writing each record and
// before marking its item done, so that a frontier that survives a machine
// crash never holds an item as done whose record the crash lost. Sync makes
// every record written before it durable; an error from it ends the crawl
// as a Write error does, the item staying unfinished. Concurrent workers
// call it at once, so it should group them into one disk flush.
type Syncer interface {
	Sync() error
}

// Flusher is implemented by a Sink that buffers records: Write keeps them
// and only Flush hands them on (to the file or pipe beneath). The crawler
// flushes such a sink after each record when its frontier outlives the
// process (so that an item is done only once its record has left the
// process), when Buffered reaches flushSize, at least every flushInterval
// while the crawl runs, and when it ends; each time after its archive's
// Sync, so that no record reaches a reader before the WARC record it
// names. Buffering spares each record its write to the operating system.
type Flusher interface {
	Flush() error
	// Buffered is the number of bytes Flush would hand on.
	Buffered() int
}

// JSONLSink writes records as JSON Lines, buffered (see Flusher).
type JSONLSink struct {
	mu  sync.Mutex // guards buf and enc, and w while a flush writes to it
	w   io.Writer
	buf *bytes.Buffer
	enc *json.Encoder
}

var _ Flusher = (*JSONLSink)(nil)

// NewJSONLSink returns a sink writing to w. The caller keeps ownership of w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	buf := &bytes.Buffer{}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // URLs with & stay readable
	return &JSONLSink{w: w, buf: buf, enc: enc}
}

// Write encodes r as one line into the buffer.
func (s *JSONLSink) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(r); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

// Flush writes the records buffered to the writer.
func (s *JSONLSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.Len() == 0 {
		return nil
	}
	n, err := s.w.Write(s.buf.Bytes())
	s.buf.Next(n) // what was not written stays for the next Flush
	if err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

// Buffered is the size of the records written since the last Flush.
func (s *JSONLSink) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}
