package crawler

import (
	"bufio"
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

// JSONLSink writes records as JSON Lines. Each record is flushed as it is
// written, so a reader tailing the output sees pages as they are fetched and
// an interrupted crawl loses nothing it had recorded.
type JSONLSink struct {
	mu  sync.Mutex // guards buf and enc
	buf *bufio.Writer
	enc *json.Encoder
}

// NewJSONLSink returns a sink writing to w. The caller keeps ownership of w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	buf := bufio.NewWriter(w)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // URLs with & stay readable
	return &JSONLSink{buf: buf, enc: enc}
}

// Write encodes r as one line and flushes it.
func (s *JSONLSink) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(r); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	if err := s.buf.Flush(); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}
