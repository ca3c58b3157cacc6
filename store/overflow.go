package store

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/crawld/crawld/queue"
)

// tails is the bookkeeping the store's two queue.Overflows share. Both keep a
// spilled item in a Pebble database under <prefix><host>\x00<id>, the id
// (8 bytes, big-endian) growing in the order the items were spilled, so a
// host's spilled tail is a run of keys in FIFO order. For each host with a
// tail, tails records the id of its oldest entry not yet taken back and how
// many entries it holds; reading the tail back is then one seek to that key
// and n steps. Seeking to the id, rather than to the host's first key, also
// skips whatever the host's range holds before it: the entries of the items
// taken back and, for the Frontier, the tombstones Done left there.
//
// A host's record is dropped once its tail is empty, so tails follows the
// hosts with something spilled, not every host seen. Not safe for concurrent
// use: its owner locks.
type tails map[string]*tail

// tail is one host's record in tails.
type tail struct {
	from uint64 // the id of the oldest entry not yet taken back
	n    int    // entries spilled and not yet taken back
}

// spill records that host's entry id was spilled behind the rest of its
// tail. The caller guarantees that ids grow per host.
func (t tails) spill(host string, id uint64) {
	if tl := t[host]; tl != nil {
		tl.n++
		return
	}
	t[host] = &tail{from: id, n: 1}
}

// read decodes the n oldest entries of host's tail from db, keys under
// prefix, without taking them off the tail (see advance). It stops after
// the n-th entry, so it never reads past the tail, whatever follows it in
// the host's range. It returns the items and the id of the last one. If del
// is not nil, it also adds the deletion of each entry read to del.
func (t tails) read(db *pebble.DB, prefix, host string, n int, decode func(v []byte, id uint64) (queue.Item, error), del *pebble.Batch) (items []queue.Item, last uint64, err error) {
	tl := t[host]
	if have := 0; tl == nil || n > tl.n || n <= 0 {
		if tl != nil {
			have = tl.n
		}
		return nil, 0, fmt.Errorf("%d items asked, %d spilled", n, have)
	}
	lower := appendTailKey(nil, prefix, host, tl.from)
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

// advance takes the n entries read, the last of them with id last, off
// host's tail, forgetting the host when nothing is left.
func (t tails) advance(host string, n int, last uint64) {
	tl := t[host]
	tl.from, tl.n = last+1, tl.n-n
	if tl.n == 0 {
		delete(t, host)
	}
}

// appendTailKey appends <prefix><host>\x00<id> to b.
func appendTailKey(b []byte, prefix, host string, id uint64) []byte {
	b = append(append(append(b, prefix...), host...), 0)
	return binary.BigEndian.AppendUint64(b, id)
}

// diskOverflow is the queue.Overflow of a Frontier with a MemoryLimit. Every
// queued item already has its entry on disk, so Spill writes nothing and
// only records, in tails, where the host's spilled tail starts and how long
// it is; Unspill reads the tail back from the queue entries themselves and
// deletes nothing (the entries stay until Done, as for any item).
//
// Why reading from the tail's first id returns exactly the spilled items,
// in order: ids are assigned under the Frontier's mu in the order items
// reach queue.Memory's Put, and once a host has a spilled tail, Memory
// spills every new item of that host until the tail is empty. So the host's
// entries from the tail's first id on are, in key order, the spilled items
// (oldest first) and then, possibly, entries already written by a Put that
// holds mu but has not yet reached Memory: their ids are above every spilled
// one. Memory never asks for more than it has spilled, and tails.read stops
// after n entries, so Unspill never reads those. The items Memory holds or
// has handed out have ids below the tail's start, and Done's tombstones are
// below it too, so the seek skips them all.
//
// Memory calls Spill and Unspill with its own lock held, and Put holds the
// Frontier's mu while it calls Memory, so the methods take only o.mu:
// taking the Frontier's mu here would deadlock with a Put.
type diskOverflow struct {
	db *pebble.DB

	mu     sync.Mutex
	closed bool // set by the Frontier's Close before it closes db
	tails  tails
}

func newDiskOverflow(db *pebble.DB) *diskOverflow {
	return &diskOverflow{db: db, tails: make(tails)}
}

// Spill records it, whose entry is on disk under it.ID, as the newest item
// of its host's spilled tail. It never fails: the Frontier relies on that
// (see Frontier.enqueue).
func (o *diskOverflow) Spill(it queue.Item) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tails.spill(it.Host, it.ID)
	return nil
}

// Unspill reads back the n oldest items of host's spilled tail, their IDs
// set from their keys.
func (o *diskOverflow) Unspill(host string, n int) ([]queue.Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errClosed
	}
	items, last, err := o.tails.read(o.db, prefixQueue, host, n, decodeQueued, nil)
	if err != nil {
		return nil, fmt.Errorf("store: read spilled items of %s: %w", host, err)
	}
	o.tails.advance(host, n, last)
	return items, nil
}

// close makes Unspill fail from now on, so that it never reads the
// database once it is closed.
func (o *diskOverflow) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}
