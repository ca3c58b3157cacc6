package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/crawld/crawld/internal/pebbleq"
)

const (
	schemaVersion = 2 // the layout described in the package doc

	// migrateChunk is how many queue entries a schema migration moves per
	// batch, so a large queue does not build one huge batch.
	migrateChunk = 10_000
)

// load checks the schema version, migrating an older layout, restores the
// counters and puts every queued item in the memory queue, host by host, in
// id order. It returns what failed.
func (f *Frontier) load() (string, error) {
	if v := f.db.FormatMajorVersion(); v >= pebble.FormatWALSyncChunks {
		return "check format", fmt.Errorf("database format %s records synced log offsets, which the store's deferred fsync cannot honour", v)
	}
	version, found, err := counter(f.db, []byte(keyVersion))
	switch {
	case err != nil:
		return "read schema version", err
	case !found:
		f.val = binary.BigEndian.AppendUint64(f.val[:0], schemaVersion)
		if err := f.db.Set([]byte(keyVersion), f.val, pebble.Sync); err != nil {
			return "write schema version", err
		}
	case version == 1:
		if err := f.migrate1(); err != nil {
			return "migrate schema version 1 to 2", err
		}
	case version != schemaVersion:
		return "check schema version", fmt.Errorf("schema version %d, this crawld reads %d", version, schemaVersion)
	}
	for _, c := range []struct {
		key string
		dst *uint64
	}{{keyCount, &f.count}, {keySeen, &f.seen}} {
		if *c.dst, _, err = counter(f.db, []byte(c.key)); err != nil {
			return "read " + c.key, err
		}
	}
	f.next = 1 // 0 is never assigned, so an item with ID 0 was never queued
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixQueue), UpperBound: prefixEnd(prefixQueue)})
	if err != nil {
		return "read queue", err
	}
	for iter.First(); iter.Valid(); iter.Next() {
		if err := f.loadEntry(iter); err != nil {
			_ = iter.Close()
			return "read queue", err
		}
	}
	if err := iter.Close(); err != nil {
		return "read queue", err
	}
	return "", nil
}

// loadEntry puts the queue entry at iter in the memory queue. Entries come
// host by host, ids ascending, so each host's FIFO is rebuilt in order, and
// with a MemoryLimit its spilled tail is exactly its last entries on disk.
func (f *Frontier) loadEntry(iter *pebble.Iterator) error {
	k := iter.Key()
	host, id, ok := parseQueueKey(k)
	if !ok {
		return fmt.Errorf("malformed queue key %q", k)
	}
	v, err := iter.ValueAndErr()
	if err != nil {
		return err
	}
	it, err := decodeQueued(v, id)
	if err == nil && it.Host != host {
		err = fmt.Errorf("host %q in the entry", it.Host)
	}
	if err != nil {
		return fmt.Errorf("item %d of %s: %w", id, host, err)
	}
	if err := f.mem.Put(context.Background(), it); err != nil {
		return fmt.Errorf("item %d of %s: %w", id, host, err)
	}
	f.next = max(f.next, id+1)
	return nil
}

// migrate1 moves the queue entries of a schema version 1 database to their
// version 2 keys, migrateChunk per batch, then writes version 2 (see the
// package doc). The iterator reads the database as it was when the
// migration began, so it never meets the keys the batches write.
func (f *Frontier) migrate1() error {
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixQueue), UpperBound: prefixEnd(prefixQueue)})
	if err != nil {
		return err
	}
	defer iter.Close()
	b := f.db.NewBatch()
	moved := 0
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		if len(k) != len(prefixQueue)+8 {
			continue // moved by an interrupted migration
		}
		id := binary.BigEndian.Uint64(k[len(prefixQueue):])
		v, err := iter.ValueAndErr()
		if err != nil {
			_ = b.Close()
			return err
		}
		it, err := pebbleq.DecodeItem(v)
		if err == nil {
			err = checkHost(it.Host)
		}
		if err != nil {
			_ = b.Close()
			return fmt.Errorf("item %d: %w", id, err)
		}
		_ = b.Set(appendQueueKey(nil, it.Host, id), v, nil)
		_ = b.Delete(k, nil)
		if moved++; moved%migrateChunk == 0 {
			if err := f.commit(b); err != nil {
				return err
			}
			b = f.db.NewBatch()
		}
	}
	if err := iter.Error(); err != nil {
		_ = b.Close()
		return err
	}
	_ = b.Delete([]byte(keyNextV1), nil)
	_ = b.Set([]byte(keyVersion), binary.BigEndian.AppendUint64(nil, schemaVersion), nil)
	return f.commit(b)
}

// counter reads a counter from r, 0 if it is absent.
func counter(r pebble.Reader, key []byte) (n uint64, found bool, err error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, true, fmt.Errorf("malformed counter %s: %d bytes", key, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}
