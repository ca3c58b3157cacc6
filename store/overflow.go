package store

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// diskOverflow is the queue.Overflow of a Frontier with a MemoryLimit. Every
// queued item already has its entry on disk, so Spill writes nothing and
// only records, in its pebbleq.Tails, where the host's spilled tail starts and how long
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
// one. Memory never asks for more than it has spilled, and Tails.Read stops
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
	tails  pebbleq.Tails
}

func newDiskOverflow(db *pebble.DB) *diskOverflow {
	return &diskOverflow{db: db}
}

// Spill records it, whose entry is on disk under it.ID, as the newest item
// of its host's spilled tail. It never fails: the Frontier relies on that
// (see Frontier.enqueue).
func (o *diskOverflow) Spill(it queue.Item) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tails.Spill(it.Host, it.ID)
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
	items, last, err := o.tails.Read(o.db, prefixQueue, host, n, decodeQueued, nil)
	if err != nil {
		return nil, fmt.Errorf("store: read spilled items of %s: %w", host, err)
	}
	o.tails.Advance(host, n, last)
	return items, nil
}

// close makes Unspill fail from now on, so that it never reads the
// database once it is closed.
func (o *diskOverflow) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}
