package pebbleq

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/crawld/crawld/queue"
)

const (
	itemVersion  = 1 // the encoding of a queued item
	itemVersionV = 2 // the encoding of a queued item with Via
	itemVersionR = 3 // the encoding of a queued item with a Referrer: Via (maybe ""), then the Referrer
)

// AppendItem appends the encoding of it to b: a version byte (1) followed by
// URL, Host, Depth, Kind, Redirects, Origin and Attempt, strings as uvarint
// length and bytes, integers as varints, Kind as one byte. Version 2 appends
// Via; an item without one is still written as version 1, so that what an
// older crawld wrote and what it can read stay the same. The ID is not
// encoded: it is the key's.
func AppendItem(b []byte, it queue.Item) []byte {
	version := byte(itemVersion)
	switch {
	case it.Referrer != "":
		version = itemVersionR
	case it.Via != "":
		version = itemVersionV
	}
	b = append(b, version)
	b = AppendString(b, it.URL)
	b = AppendString(b, it.Host)
	b = binary.AppendVarint(b, int64(it.Depth))
	b = append(b, byte(it.Kind))
	b = binary.AppendVarint(b, int64(it.Redirects))
	b = AppendString(b, it.Origin)
	b = binary.AppendVarint(b, int64(it.Attempt))
	if version != itemVersion {
		b = AppendString(b, it.Via)
	}
	if version == itemVersionR {
		b = AppendString(b, it.Referrer)
	}
	return b
}

// DecodeItem decodes an item encoded by AppendItem, of either version, with
// ID 0. It fails on an unknown version, a truncated value or trailing bytes.
func DecodeItem(b []byte) (queue.Item, error) {
	d := NewDecoder(b)
	v := d.Byte()
	if v != itemVersion && v != itemVersionV && v != itemVersionR {
		return queue.Item{}, fmt.Errorf("unknown item encoding version %d", v)
	}
	it := queue.Item{
		URL:       d.Text(),
		Host:      d.Text(),
		Depth:     d.Int(),
		Kind:      queue.Kind(d.Byte()),
		Redirects: d.Int(),
		Origin:    d.Text(),
		Attempt:   d.Int(),
	}
	if v != itemVersion {
		it.Via = d.Text()
	}
	if v == itemVersionR {
		it.Referrer = d.Text()
	}
	if err := d.Finish(); err != nil {
		return queue.Item{}, err
	}
	return it, nil
}

// AppendString appends s to b as Decoder.Text reads it: its length as a
// uvarint, then its bytes.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// ErrTruncated is the error of a Decoder that ran out of bytes, or met a
// malformed varint.
var ErrTruncated = errors.New("truncated value")

// Decoder reads the fields of an encoded value in order. It remembers the
// first error (Err), after which every read returns the zero value, so a
// caller reads all its fields and checks once.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder reading b from its start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = cmpOr(d.err, ErrTruncated)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// Int64 reads a varint.
func (d *Decoder) Int64() int64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = ErrTruncated
		return 0
	}
	d.b = d.b[k:]
	return n
}

// Int reads a varint as an int.
func (d *Decoder) Int() int { return int(d.Int64()) }

// Text reads a string written by AppendString.
func (d *Decoder) Text() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = ErrTruncated
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// Err returns the first error met, nil if none; bytes left unread are not
// one (see Finish).
func (d *Decoder) Err() error { return d.err }

// Finish returns the first error met or, if none, an error if bytes are left
// unread: for a value whose every field was read.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}
