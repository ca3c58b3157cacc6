package store

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

// writeV1 writes, with Pebble directly, a schema version 1 database holding
// items as queue entries q/<id> with ids 1, 2, … (skipping every eleventh,
// as if Done), and every item's seen key and the counters. With moved, the
// entries of every third id are already under their version 2 keys, as an
// interrupted migration leaves them.
func writeV1(t *testing.T, dir string, items []queue.Item, moved bool) (ids []uint64) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleq.Logger(nil), FormatMajorVersion: format})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	id := uint64(0)
	for _, it := range items {
		if id++; id%11 == 0 {
			id++
		}
		key := binary.BigEndian.AppendUint64([]byte(prefixQueue), id)
		if moved && id%3 == 0 {
			key = appendQueueKey(nil, it.Host, id)
		}
		_ = b.Set(key, pebbleq.AppendItem(nil, it), nil)
		_ = b.Set(append([]byte(prefixSeen), it.URL...), appendSeen(nil, seenValue{kind: it.Kind, depth: it.Depth}, false), nil)
		ids = append(ids, id)
	}
	_ = b.Set([]byte(keyVersion), u64(1), nil)
	_ = b.Set([]byte(keyNextV1), u64(id+1), nil)
	_ = b.Set([]byte(keySeen), u64(uint64(len(items))), nil)
	_ = b.Set([]byte(keyCount), u64(uint64(len(items))), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestMigrateV1 opens version 1 databases, whole and half migrated, of more
// than migrateChunk entries: every item comes back once, in its host's
// order, with its old id; the database is at version 2 with no old keys
// left; and a second Open reads it as it is.
func TestMigrateV1(t *testing.T) {
	const n = migrateChunk + 500 // a full batch and a last one
	// "a" is a prefix of the other hosts.
	hosts := []string{"a.example", "a.example.org", "b.example", "a"}
	var items []queue.Item
	want := map[string][]string{}
	for i := range n {
		it := hostItem(hosts, i)
		it.Depth, it.Attempt = i%4, i%3
		items = append(items, it)
		want[it.Host] = append(want[it.Host], it.URL)
	}
	for _, moved := range []bool{false, true} {
		t.Run(fmt.Sprint("interrupted=", moved), func(t *testing.T) {
			dir := t.TempDir()
			ids := writeV1(t, dir, items, moved)
			idOf := map[string]uint64{}
			for i, it := range items {
				idOf[it.URL] = ids[i]
			}
			f := mustOpen(t, dir, bounded)
			if s := f.Stats(); s.Queued != n || s.Seen != n || s.Spilled == 0 {
				t.Errorf("after migration: %+v, want %d queued and seen, some spilled", s, n)
			}
			if a := mustAdd(t, f, items[0], 0); a != queue.Duplicate {
				t.Errorf("Add of a migrated URL = %d, want Duplicate", a)
			}
			if v, _, err := counter(f.db, []byte(keyVersion)); err != nil || v != schemaVersion {
				t.Errorf("schema version %d, %v; want %d", v, err, schemaVersion)
			}
			if _, found, err := counter(f.db, []byte(keyNextV1)); err != nil || found {
				t.Errorf("%s still there (%v)", keyNextV1, err)
			}
			iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixQueue), UpperBound: prefixEnd(prefixQueue)})
			if err != nil {
				t.Fatal(err)
			}
			for iter.First(); iter.Valid(); iter.Next() {
				if _, _, ok := parseQueueKey(iter.Key()); !ok {
					t.Errorf("key %q left in the old layout", iter.Key())
				}
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			mustClose(t, f)

			// A larger limit for the drain: tails are then read back 64
			// items at a time, which keeps the test quick under -race.
			f = mustOpen(t, dir, queue.Config{MemoryLimit: 256 << 10})
			defer mustClose(t, f)
			if s := f.Stats(); s.Spilled == 0 {
				t.Errorf("after reopen: %+v, want some spilled", s)
			}
			got := map[string][]string{}
			byURL := map[string]queue.Item{}
			for _, it := range items {
				byURL[it.URL] = it
			}
			for _, it := range drain(t, f) {
				if noID(it) != byURL[it.URL] || it.ID != idOf[it.URL] {
					t.Fatalf("got %+v, want %+v with id %d", it, byURL[it.URL], idOf[it.URL])
				}
				got[it.Host] = append(got[it.Host], it.URL)
			}
			checkOrder(t, want, got)
		})
	}
}

// TestMigrateError: a version 1 entry that cannot be read fails Open, names
// the entry, and leaves the database at version 1.
func TestMigrateError(t *testing.T) {
	dir := t.TempDir()
	writeV1(t, dir, []queue.Item{item("a", 1)}, false)
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleq.Logger(nil), FormatMajorVersion: format})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(binary.BigEndian.AppendUint64([]byte(prefixQueue), 7), []byte{1, 200}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, unlimited)
	if err == nil {
		f.Close()
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), "migrate") || !strings.Contains(err.Error(), "item 7") {
		t.Errorf("error %q does not say the migration failed on item 7", err)
	}
}
