package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/crawld/crawld/queue"
)

const (
	itemVersion  = 1 // the encoding of a queued item
	itemVersionV = 2 // the encoding of a queued item with Via
	validVersion = 2 // the encoding of validators (2: with the fetch time)
)

// seenValue is what a seen key's value holds.
type seenValue struct {
	kind   queue.Kind
	depth  int  // the smallest depth the URL was added with (with depths), else its first
	handed bool // with depths: no item of the URL was queued since one was Done
}

// appendSeen encodes sv: a version byte, the kind and the depth and, with
// depths (version 2), whether it was handed.
func appendSeen(b []byte, sv seenValue, depths bool) []byte {
	version := byte(1)
	if depths {
		version = 2
	}
	b = append(b, version, byte(sv.kind))
	b = binary.AppendUvarint(b, uint64(max(sv.depth, 0)))
	if depths {
		handed := byte(0)
		if sv.handed {
			handed = 1
		}
		b = append(b, handed)
	}
	return b
}

// decodeSeen decodes a value written by appendSeen. An empty value
// (written before kinds and depths were kept) means a page at depth 0; a
// value without the handed byte (version 1, or empty) counts as handed,
// since whether an item of it is still queued is not known: a smaller
// depth found then queues a KindExpand item, which at worst fetches the
// page once more.
func decodeSeen(value []byte) seenValue {
	sv := seenValue{kind: queue.KindPage, handed: true}
	if len(value) >= 2 && (value[0] == 1 || value[0] == 2) {
		sv.kind = queue.Kind(value[1])
		depth, n := binary.Uvarint(value[2:])
		if n > 0 {
			sv.depth = int(min(depth, 1<<31-1))
			if rest := value[2+n:]; value[0] == 2 && len(rest) == 1 {
				sv.handed = rest[0] == 1
			}
		}
	}
	return sv
}

// seenItem rebuilds the item Revisit queues for a seen URL. An empty value
// (written before kinds and depths were kept) means a page at depth 0.
func seenItem(rawURL string, value []byte) (queue.Item, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return queue.Item{}, fmt.Errorf("store: seen URL %q has no host", rawURL)
	}
	sv := decodeSeen(value)
	return queue.Item{URL: rawURL, Host: u.Host, Kind: sv.kind, Depth: sv.depth}, nil
}

// appendQueueKey appends the key of host's queue entry id to b.
func appendQueueKey(b []byte, host string, id uint64) []byte {
	return appendTailKey(b, prefixQueue, host, id)
}

// parseQueueKey splits a queue key into host and id; ok is false if k is
// not one. The id is the last 8 bytes (they may hold NULs), so the NUL
// before them is found from the end.
func parseQueueKey(k []byte) (host string, id uint64, ok bool) {
	n := len(k) - 8
	if n < len(prefixQueue)+2 || k[n-1] != 0 || string(k[:len(prefixQueue)]) != prefixQueue {
		return "", 0, false
	}
	return string(k[len(prefixQueue) : n-1]), binary.BigEndian.Uint64(k[n:]), true
}

// prefixEnd returns the smallest key greater than every key with prefix p
// (every prefix here ends in '/', which is not 0xff).
func prefixEnd(p string) []byte {
	end := []byte(p)
	end[len(end)-1]++
	return end
}

// appendItem appends the encoding of it (see the package doc) to b.
func appendItem(b []byte, it queue.Item) []byte {
	version := byte(itemVersion)
	if it.Via != "" {
		version = itemVersionV
	}
	b = append(b, version)
	b = appendString(b, it.URL)
	b = appendString(b, it.Host)
	b = binary.AppendVarint(b, int64(it.Depth))
	b = append(b, byte(it.Kind))
	b = binary.AppendVarint(b, int64(it.Redirects))
	b = appendString(b, it.Origin)
	b = binary.AppendVarint(b, int64(it.Attempt))
	if it.Via != "" {
		b = appendString(b, it.Via)
	}
	return b
}

// decodeQueued decodes the queue entry of id, setting the item's ID.
func decodeQueued(v []byte, id uint64) (queue.Item, error) {
	it, err := decodeItem(v)
	it.ID = id
	return it, err
}

// decodeItem decodes an item encoded by appendItem.
func decodeItem(b []byte) (queue.Item, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != itemVersion && v != itemVersionV {
		return queue.Item{}, fmt.Errorf("unknown item encoding version %d", v)
	}
	it := queue.Item{
		URL:       d.string(),
		Host:      d.string(),
		Depth:     d.int(),
		Kind:      queue.Kind(d.byte()),
		Redirects: d.int(),
		Origin:    d.string(),
		Attempt:   d.int(),
	}
	if v == itemVersionV {
		it.Via = d.string()
	}
	if err := d.finish(); err != nil {
		return queue.Item{}, err
	}
	return it, nil
}

// appendValidators appends the encoding of a validators entry to b.
func appendValidators(b []byte, etag, lastModified string, fetchedAt time.Time) []byte {
	b = append(b, validVersion)
	b = appendString(b, etag)
	b = appendString(b, lastModified)
	var unix int64
	if !fetchedAt.IsZero() {
		unix = fetchedAt.UnixNano()
	}
	return binary.AppendVarint(b, unix)
}

// decodeValidators decodes a validators entry.
func decodeValidators(b []byte) (etag, lastModified string, fetchedAt time.Time, err error) {
	d := decoder{b: b}
	if v := d.byte(); v != validVersion {
		return "", "", time.Time{}, fmt.Errorf("unknown validators encoding version %d", v)
	}
	etag = d.string()
	lastModified = d.string()
	unix, n := binary.Varint(d.b)
	if d.err != nil || n <= 0 {
		return "", "", time.Time{}, cmpOr(d.err, errors.New("bad fetch time"))
	}
	if unix != 0 {
		fetchedAt = time.Unix(0, unix).UTC()
	}
	return etag, lastModified, fetchedAt, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads the fields of an encoded value, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated value")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = cmpOr(d.err, errTruncated)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) int() int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

func (d *decoder) string() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// finish reports the first error, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
