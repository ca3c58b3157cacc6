package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cockroachdb/pebble/v2"
	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// Key prefixes of the archive's state; see the package doc.
const (
	prefixCapture = "a/"
	prefixDigest  = "d/"
)

// captureVersion is the encoding of a/ and d/ values.
const captureVersion = 1

// Capture returns the archived capture SaveCapture stored for url; ok is
// false if none is stored (or the Frontier is closed, or it cannot be
// read: the 304 is then archived as a plain response).
func (f *Frontier) Capture(url string) (queue.Capture, bool) {
	c, ok, err := f.getCapture(append([]byte(prefixCapture), url...))
	if err != nil {
		f.log.Warn("store: cannot read the archived capture", zap.String("url", url), pebbleq.Err(err))
	}
	if c.URI == "" {
		c.URI = url
	}
	return c, ok
}

// SaveCapture stores c as url's archived capture, what a 304 to the next
// conditional request for url refers to.
func (f *Frontier) SaveCapture(url string, c queue.Capture) error {
	if c.URI == url {
		c.URI = "" // most are the URL's own: not kept twice
	}
	if err := f.setCapture(append([]byte(prefixCapture), url...), &c); err != nil {
		return fmt.Errorf("store: save capture of %s: %w", url, err)
	}
	return nil
}

// getCapture reads the capture at key; ok is false if there is none, or
// the Frontier is closed.
func (f *Frontier) getCapture(key []byte) (c queue.Capture, ok bool, err error) {
	ok, err = f.getValue(key, func(v []byte) (err error) {
		c, err = decodeCapture(v)
		return err
	})
	return c, ok, err
}

// setCapture writes c at key, or deletes key if c is nil, without
// waiting for the disk: the write is made durable by the next commit that
// waits (a Done's). Waiting here would cost an fsync for every page
// archived, one at a time under the claim's lock (it halved pages/s on
// the throughput benchmark), and would not make a claim safer: a claim
// precedes the write of its record either way (see warc.Digests on that
// window), and a capture lost in a crash costs only a payload stored
// twice.
func (f *Frontier) setCapture(key []byte, c *queue.Capture) error {
	if c == nil {
		return f.setValue(key, nil, pebble.NoSync)
	}
	return f.setValue(key, appendCapture(nil, *c), pebble.NoSync)
}

// appendCapture appends the encoding of c to b: the version, the date
// (varint Unix nanoseconds), then the URI, record id and digest
// (uvarint length, bytes).
func appendCapture(b []byte, c queue.Capture) []byte {
	b = append(b, captureVersion)
	b = binary.AppendVarint(b, c.Date.UnixNano())
	b = pebbleq.AppendString(b, c.URI)
	b = pebbleq.AppendString(b, c.RecordID)
	return pebbleq.AppendString(b, c.Digest)
}

// decodeCapture decodes a capture entry.
func decodeCapture(b []byte) (queue.Capture, error) {
	d := pebbleq.NewDecoder(b)
	if v := d.Byte(); v != captureVersion {
		return queue.Capture{}, fmt.Errorf("unknown capture encoding version %d", v)
	}
	c := queue.Capture{Date: time.Unix(0, d.Int64()).UTC(), URI: d.Text(), RecordID: d.Text(), Digest: d.Text()}
	if err := d.Finish(); err != nil {
		return queue.Capture{}, fmt.Errorf("malformed capture: %w", err)
	}
	return c, nil
}
