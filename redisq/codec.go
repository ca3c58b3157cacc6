package redisq

import (
	"encoding/binary"
	"errors"

	"github.com/crawld/crawld/queue"
)

// Item records: a version byte, then Depth, Kind, Redirects, Attempt,
// Origin and URL. The host is the list's key; the ID is the lease's.
// Integers are varints; Origin is uvarint length and bytes; the URL is the
// rest. A field is added under a new version byte, decode reading both:
// version 2 has Via (uvarint length and bytes) after Origin, and is written
// only for an item that has one.
//
// Version 4 adds the Referrer: Via (uvarint length and bytes, maybe
// empty), then the Referrer (the same), after Origin; it is written only
// for an item that has one.
//
// Version 3, written in a crawl that keeps depths (Options.MaxDepth), is
// the byte 3, the URL's seen.Fingerprint (8 bytes, big-endian), then a
// version 1 or 2 record: the scripts read the fingerprint to find the
// URL's seen member, and its kind byte, after the depth varint.
const (
	recVersion    = 1
	recVersionVia = 2
	recVersionFP  = 3
	recVersionRef = 4
)

func encode(it queue.Item) []byte {
	b := make([]byte, 0, 16+len(it.Origin)+len(it.Via)+len(it.Referrer)+len(it.URL))
	version := byte(recVersion)
	switch {
	case it.Referrer != "":
		version = recVersionRef
	case it.Via != "":
		version = recVersionVia
	}
	b = append(b, version)
	b = binary.AppendVarint(b, int64(it.Depth))
	b = append(b, byte(it.Kind))
	b = binary.AppendVarint(b, int64(it.Redirects))
	b = binary.AppendVarint(b, int64(it.Attempt))
	b = binary.AppendUvarint(b, uint64(len(it.Origin)))
	b = append(b, it.Origin...)
	if version != recVersion {
		b = binary.AppendUvarint(b, uint64(len(it.Via)))
		b = append(b, it.Via...)
	}
	if version == recVersionRef {
		b = binary.AppendUvarint(b, uint64(len(it.Referrer)))
		b = append(b, it.Referrer...)
	}
	return append(b, it.URL...)
}

var errRecord = errors.New("malformed item record")

func decode(rec, host string, id uint64) (queue.Item, error) {
	if len(rec) > 9 && rec[0] == recVersionFP {
		rec = rec[9:]
	}
	b := []byte(rec)
	if len(b) < 2 || (b[0] != recVersion && b[0] != recVersionVia && b[0] != recVersionRef) {
		return queue.Item{}, errRecord
	}
	version := b[0]
	b = b[1:]
	varint := func() int {
		v, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return int(v)
	}
	it := queue.Item{Host: host, ID: id}
	it.Depth = varint()
	if len(b) == 0 {
		return queue.Item{}, errRecord
	}
	it.Kind, b = queue.Kind(b[0]), b[1:]
	it.Redirects = varint()
	it.Attempt = varint()
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return queue.Item{}, errRecord
	}
	it.Origin, b = string(b[k:k+int(n)]), b[k+int(n):]
	text := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		t := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return t, true
	}
	ok := true
	if version != recVersion {
		it.Via, ok = text()
	}
	if ok && version == recVersionRef {
		it.Referrer, ok = text()
	}
	if !ok {
		return queue.Item{}, errRecord
	}
	it.URL = string(b)
	return it, nil
}
