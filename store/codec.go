package store

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"time"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// validVersion is the encoding of validators (2: with the fetch time).
const validVersion = 2

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
	return pebbleq.AppendKey(b, prefixQueue, host, id)
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

// decodeQueued decodes the queue entry of id, setting the item's ID.
func decodeQueued(v []byte, id uint64) (queue.Item, error) {
	it, err := pebbleq.DecodeItem(v)
	it.ID = id
	return it, err
}

// appendValidators appends the encoding of a validators entry to b.
func appendValidators(b []byte, etag, lastModified string, fetchedAt time.Time) []byte {
	b = append(b, validVersion)
	b = pebbleq.AppendString(b, etag)
	b = pebbleq.AppendString(b, lastModified)
	var unix int64
	if !fetchedAt.IsZero() {
		unix = fetchedAt.UnixNano()
	}
	return binary.AppendVarint(b, unix)
}

// decodeValidators decodes a validators entry.
func decodeValidators(b []byte) (etag, lastModified string, fetchedAt time.Time, err error) {
	d := pebbleq.NewDecoder(b)
	if v := d.Byte(); v != validVersion {
		return "", "", time.Time{}, fmt.Errorf("unknown validators encoding version %d", v)
	}
	etag = d.Text()
	lastModified = d.Text()
	unix := d.Int64()
	if err := d.Err(); err != nil {
		return "", "", time.Time{}, err
	}
	if unix != 0 {
		fetchedAt = time.Unix(0, unix).UTC()
	}
	return etag, lastModified, fetchedAt, nil
}
