package queue

import (
	"fmt"
	"unsafe"
)

// Overflow keeps, outside memory, the items a Memory with a MemoryLimit
// cannot hold. Memory spills a host's items in the order they were queued
// and takes them back oldest first, and once a host has items spilled every
// new item of that host is spilled too, so the host's FIFO order holds
// across memory and the Overflow.
//
// Memory calls these methods with its lock held, one at a time: they must
// not call back into the Memory, and they should be quick (a local disk).
type Overflow interface {
	// Spill stores it behind every item of it.Host spilled before it. On
	// error the item is not queued and Put returns the error.
	Spill(it Item) error
	// Unspill removes and returns the n oldest spilled items of host, in the
	// order they were spilled. Memory never asks for more items of a host
	// than it has spilled and not yet taken back. On error Get returns it
	// and the items stay spilled.
	Unspill(host string, n int) ([]Item, error)
}

// unspillBatch is how many items of a host unspill takes back at once while
// memory is well under the limit: one read of the overflow per batch rather
// than per item, and few enough that the hosts being served cannot together
// hold much above the limit.
const unspillBatch = 64

// unspill takes back the oldest spilled items of h, which has none in
// memory; m.mu is held. Near the limit it takes one at a time.
func (m *Memory) unspill(h *host) error {
	n := 1
	if m.bytes < m.memLimit/2 {
		n = min(h.spilled, unspillBatch)
	}
	items, err := m.overflow.Unspill(h.name, n)
	if err == nil && len(items) != n {
		err = fmt.Errorf("overflow returned %d items, not %d", len(items), n)
	}
	if err != nil {
		return fmt.Errorf("queue: take back spilled items of %s: %w", h.name, err)
	}
	for _, it := range items {
		h.items = append(h.items, it)
		m.bytes += itemBytes(it)
	}
	h.spilled -= n
	m.spilled -= n
	return nil
}

// itemOverhead is the memory an Item takes besides its strings' bytes: the
// struct in the FIFO's array, with room for the array's growth.
const itemOverhead = int64(unsafe.Sizeof(Item{})) * 3 / 2

// itemBytes estimates the memory a queued item holds.
func itemBytes(it Item) int64 {
	return itemOverhead + int64(len(it.URL)+len(it.Host)+len(it.Origin)+len(it.Via)+len(it.Referrer))
}

// hostBytes estimates the memory of a host's state: the struct, its map
// entry and its limiter.
const hostBytes = 320
