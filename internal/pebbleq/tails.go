package pebbleq

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/crawld/crawld/queue"
)

// AppendKey appends <prefix><host>\x00<id> to b, id as 8 bytes big-endian,
// so that a host's keys sort by id and form one run (see CheckHost).
func AppendKey(b []byte, prefix, host string, id uint64) []byte {
	b = append(append(append(b, prefix...), host...), 0)
	return binary.BigEndian.AppendUint64(b, id)
}

// Tails is the bookkeeping of a queue.Overflow that keeps each spilled item
// in a Pebble database under AppendKey(prefix, host, id), the id growing in
// the order the items were spilled, so that a host's spilled tail is a run
// of keys in FIFO order. For each host with a tail, Tails records the id of
// its oldest entry not yet taken back and how many entries it holds; reading
// the tail back is then one seek to that key and n steps. Seeking to the id,
// rather than to the host's first key, also skips whatever the host's range
// holds before it: the entries of the items taken back and whatever
// tombstones their deletion left there.
//
// A host's record is dropped once its tail is empty, so Tails follows the
// hosts with something spilled, not every host seen. The zero value is
// empty and ready to use. Not safe for concurrent use: its owner locks.
type Tails struct {
	hosts map[string]*tail
}

// tail is one host's record in Tails.
type tail struct {
	from uint64 // the id of the oldest entry not yet taken back
	n    int    // entries spilled and not yet taken back
}

// Spill records that host's entry id was spilled behind the rest of its
// tail. The caller guarantees that ids grow per host.
func (t *Tails) Spill(host string, id uint64) {
	if tl := t.hosts[host]; tl != nil {
		tl.n++
		return
	}
	if t.hosts == nil {
		t.hosts = make(map[string]*tail)
	}
	t.hosts[host] = &tail{from: id, n: 1}
}

// Read decodes the n oldest entries of host's tail from db, keys under
// prefix, without taking them off the tail (see Advance). It stops after
// the n-th entry, so it never reads past the tail, whatever follows it in
// the host's range. It returns the items, decoded by decode from each value
// and its key's id, and the id of the last one. If del is not nil, it also
// adds the deletion of each entry read to del. It fails if host has fewer
// than n entries in its tail, or fewer are found in db.
func (t *Tails) Read(db *pebble.DB, prefix, host string, n int, decode func(v []byte, id uint64) (queue.Item, error), del *pebble.Batch) (items []queue.Item, last uint64, err error) {
	tl := t.hosts[host]
	if have := 0; tl == nil || n > tl.n || n <= 0 {
		if tl != nil {
			have = tl.n
		}
		return nil, 0, fmt.Errorf("%d items asked, %d spilled", n, have)
	}
	lower := AppendKey(nil, prefix, host, tl.from)
	upper := append(append([]byte(prefix), host...), 1) // just past the host's keys
	iter, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, 0, err
	}
	items = make([]queue.Item, 0, n)
	for valid := iter.First(); valid; valid = iter.Next() {
		k := iter.Key()
		if len(k) != len(lower) {
			err = fmt.Errorf("malformed key %q", k)
			break
		}
		last = binary.BigEndian.Uint64(k[len(k)-8:])
		var v []byte
		if v, err = iter.ValueAndErr(); err != nil {
			break
		}
		var it queue.Item
		if it, err = decode(v, last); err != nil {
			err = fmt.Errorf("item %d: %w", last, err)
			break
		}
		if del != nil {
			_ = del.Delete(k, nil)
		}
		if items = append(items, it); len(items) == n {
			break
		}
	}
	err = cmpOr(err, cmpOr(iter.Error(), iter.Close()))
	if err == nil && len(items) < n {
		err = fmt.Errorf("%d of %d spilled items found", len(items), n)
	}
	if err != nil {
		return nil, 0, err
	}
	return items, last, nil
}

// Advance takes the n entries Read returned, the last of them with id last,
// off host's tail, forgetting the host when nothing is left.
func (t *Tails) Advance(host string, n int, last uint64) {
	tl := t.hosts[host]
	tl.from, tl.n = last+1, tl.n-n
	if tl.n == 0 {
		delete(t.hosts, host)
	}
}

// Hosts returns how many hosts have a spilled tail.
func (t *Tails) Hosts() int { return len(t.hosts) }
