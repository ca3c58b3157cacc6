// Package spill is the scratch overflow of crawld's memory frontier
// (storage: memory): a queue.Overflow that keeps the items beyond the
// queue's memory limit in a Pebble database in a temporary directory, for
// the life of the process only. It promises no durability; the durable
// frontier is package store.
package spill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// Spill is a queue.Overflow for a queue.Memory that keeps nothing across
// restarts (crawld's storage: memory): the items beyond the memory limit go
// to a scratch Pebble database in a temporary directory, which Close
// removes. Durability would buy nothing, since the memory queue itself is
// lost when the process ends, so the database runs without a write-ahead
// log: spilling an item is a memtable insert, and Pebble writes the
// memtables out in the background. Its block cache and memtables are small
// (scratchCache, scratchMemTable), since a host's tail is read once, in key
// order, and it has no bloom filters, since it is only ever scanned.
// Pebble's log lines and background errors go to the logger given to New.
//
// An item is kept under <host>\x00<seq>, seq (8 bytes, big-endian) a
// counter over all hosts, so a host's items are a run of keys in spill
// order; the value is the item's ID (uvarint) and then its queue entry
// encoding. Unspill deletes what it read.
//
// Safe for concurrent use, though queue.Memory calls it one call at a time.
type Spill struct {
	parent string // where the scratch directory is made
	log    *zap.Logger

	mu       sync.Mutex
	dir      string     // the scratch directory; "" until the first Spill
	db       *pebble.DB // nil until the first Spill
	closed   bool
	seq      uint64 // the last seq given to an item
	tails    pebbleq.Tails
	key, val []byte // scratch buffers; mu is held
}

// Sizes of the scratch database's block cache and memtable. The memtable
// is also what a burst of spills costs in memory before Pebble writes it
// out (up to two of them, Pebble's default MemTableStopWritesThreshold).
const (
	scratchCache    = 8 << 20
	scratchMemTable = 4 << 20
)

var errClosed = errors.New("spill: closed")

// New returns a Spill whose scratch directory will be made in dir (the
// default temporary directory if dir is ""), its database logging to log (a
// nil log logs nothing). It creates nothing until the first item is
// spilled, so a crawl that stays under its memory limit never touches the
// disk.
func New(dir string, log *zap.Logger) *Spill {
	return &Spill{parent: dir, log: log}
}

// open creates the scratch directory and database; s.mu is held.
func (s *Spill) open() error {
	if s.parent != "" {
		if err := os.MkdirAll(s.parent, 0o755); err != nil {
			return fmt.Errorf("spill: create %s: %w", s.parent, err)
		}
	}
	dir, err := os.MkdirTemp(s.parent, "spill-*")
	if err != nil {
		return fmt.Errorf("spill: create scratch directory in %s: %w", s.parent, err)
	}
	opts := &pebble.Options{
		DisableWAL:    true,
		CacheSize:     scratchCache,
		MemTableSize:  scratchMemTable,
		Logger:        pebbleq.Logger(s.log),
		EventListener: pebbleq.EventListener(s.log),
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("spill: open scratch store in %s: %w", dir, err)
	}
	s.dir, s.db = dir, db
	return nil
}

// Spill stores it behind the items of it.Host spilled before it. The first
// Spill creates the scratch directory and database; if that fails the next
// Spill tries again.
func (s *Spill) Spill(it queue.Item) error {
	if err := pebbleq.CheckHost(it.Host); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.db == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	s.key = pebbleq.AppendKey(s.key[:0], "", it.Host, s.seq+1)
	s.val = pebbleq.AppendItem(binary.AppendUvarint(s.val[:0], it.ID), it)
	if err := s.db.Set(s.key, s.val, pebble.NoSync); err != nil {
		return fmt.Errorf("spill: write %s to %s: %w", it.URL, s.dir, err)
	}
	s.seq++
	s.tails.Spill(it.Host, s.seq)
	return nil
}

// Unspill removes and returns the n oldest spilled items of host, in the
// order they were spilled. It fails, taking nothing, if host has fewer than
// n items spilled or the scratch database fails.
func (s *Spill) Unspill(host string, n int) ([]queue.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if s.db == nil {
		return nil, fmt.Errorf("spill: unspill %s: nothing spilled", host)
	}
	// The items' keys are deleted one by one: a range deletion would be
	// one entry, but Pebble fragments the memtable's range deletions
	// anew for every iterator, each Unspill's, which made a long run of
	// Unspills quadratic. Deleting before advancing keeps the tail and the
	// database in step if the delete fails: the items then stay spilled.
	b := s.db.NewBatch()
	items, last, err := s.tails.Read(s.db, "", host, n, decodeSpilled, b)
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	_ = b.Close()
	if err != nil {
		return nil, fmt.Errorf("spill: unspill %s from %s: %w", host, s.dir, err)
	}
	s.tails.Advance(host, n, last)
	return items, nil
}

// Close closes the scratch database and removes its directory, with every
// item still spilled; it does nothing if nothing was ever spilled. Spill and
// Unspill fail after Close; later calls of Close return nil.
func (s *Spill) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.tails = pebbleq.Tails{}
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("spill: close %s: %w", s.dir, err)
	}
	return nil
}

// decodeSpilled decodes a Spill value; seq, the key's, is not the item's.
func decodeSpilled(v []byte, _ uint64) (queue.Item, error) {
	id, n := binary.Uvarint(v)
	if n <= 0 {
		return queue.Item{}, pebbleq.ErrTruncated
	}
	it, err := pebbleq.DecodeItem(v[n:])
	it.ID = id
	return it, err
}
