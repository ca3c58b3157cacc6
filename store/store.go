// Package store is crawld's crash-safe crawl frontier: a queue.Memory for
// scheduling, with everything that must outlive the process — the queue, the
// seen set, the admission count and the HTTP cache validators — kept in a
// Pebble database in one directory (the data_dir).
//
// # What survives
//
// Restarting crawld on the same data_dir resumes the crawl. After a clean stop
// (Close) nothing is lost and nothing is fetched twice: every item Added or
// Put and not yet Done is queued again by the next Open, in its host's
// original FIFO order, including the items that were in flight when the
// process stopped (their fetch did not finish, so it is made again). After a
// kill -9 the same holds: every call that returned had already written its
// batch to the write-ahead log, so at most the URLs in flight at the kill are
// fetched again.
//
// # Durability trade-off
//
// A commit returns once its write-ahead log record has been written to the
// operating system (it is in the page cache), without waiting for fsync: a
// few microseconds instead of the milliseconds of a disk flush. A process
// that is killed (kill -9, OOM killer) or panics therefore loses nothing,
// because the kernel still writes the page cache out. Only a crash of the
// machine itself (power failure, kernel panic) can lose the last writes: a
// background goroutine fsyncs the log about once a second when anything was
// written, so at most about one second of work is lost, and Pebble then
// recovers a consistent prefix of the log (never half of a batch). Losing
// that second means that URLs admitted in it are forgotten (they are admitted
// again if rediscovered, but links found only by pages Done in that second
// are lost) and that items Done in it are fetched again. Close fsyncs before
// returning.
//
// The other way round — a Done that survives the crash while the record it
// stands for does not — is the caller's to prevent, and the crawler does:
// with a durable output it fsyncs each record before the item's Done (see
// crawler.Syncer), so every route by which a Done can reach the disk (the
// log's fsync, the kernel writing the log's pages back on its own, a
// memtable flushed to a synced table) starts after its record is durable.
// An item whose record could not be written is given back with Release,
// which writes nothing: its entry stays for the next Open.
//
// Pebble's own pebble.NoSync does not give this: it leaves the record in a
// user-space buffer until a 32 KiB block fills, so a kill -9 loses the last
// commits. The store therefore commits with pebble.Sync, which makes Pebble
// write the record out before the commit returns, and runs Pebble on a file
// system (walFS) whose write-ahead log files defer their fsync to the
// background syncer. The database is pinned to format FormatColumnarBlocks,
// the last one whose log does not record synced offsets, so that a log whose
// tail was lost in a machine crash reads as ending early rather than as
// corrupt.
//
// # Key layout
//
// One Pebble database, keys distinguished by a two-byte prefix:
//
//	s/<url>              seen set: the URL was given to Add so far (value: version, kind, depth, for Revisit
//	                     and the shortest depth; version 2 adds a byte: 1 when no item of the URL was
//	                     queued since one was Done, see queue.Config.Depths)
//	q/<host>\x00<id>     a queued item (see below); id is 8 bytes, big-endian, and ids
//	                     grow, so key order is each host's queue order
//	v/<url>              fetch metadata: version byte 2, ETag and Last-Modified (uvarint
//	                     length, bytes), then the last fetch time (varint Unix nanoseconds)
//	k/<name>             the crawl's counters (pages, errors, bytes…), saved by SaveCounters
//	c/version            schema version of the layout (currently 2)
//	c/count              the admission count behind Add's limit
//	c/seen               the size of the seen set, for Stats
//
// Counters are 8 bytes, big-endian. Queue entries are grouped by host so
// that a host's tail can be read back from disk in order (see Memory). A
// host never contains a NUL byte (Add and Put refuse one), so the NUL after
// it ends it: a host's entries sort before those of every host it is a
// prefix of, and q/<host>\x00 to q/<host>\x01 spans exactly its entries.
//
// A queued item is encoded as a version byte (1) followed by URL, Host,
// Depth, Kind, Redirects, Origin and Attempt: strings as uvarint length and
// bytes, integers as varints, Kind as one byte. Version 2 appends Via; an
// item without one is still written as version 1. A field is added by
// appending it under a new version byte, the decoder then reading both
// versions (the field zero in the old one). The item's ID is its key's.
//
// Add writes the seen key, the queue entry and the updated counters in one
// batch, Put writes a queue entry, Done deletes one queue entry, and Revisit
// queues the seen URLs again in batches, so a crash never leaves a URL seen
// but not queued, or the count out of step with the seen set.
//
// # Schema versions
//
// Version 1 keyed queued items by id alone (q/<id>, so one queue order for
// all hosts) and kept the next id in c/next. Open migrates such a database
// in place: it moves the entries to their new keys in batches of
// migrateChunk, each batch setting the new keys and deleting the old ones
// together, and writes version 2 (deleting c/next, which load no longer
// needs) only in the last batch, once every entry is moved. An interrupted
// migration thus leaves version 1 with entries of both shapes, told apart
// by their length (an old key is always 10 bytes, a new one at least 12),
// and the next Open moves the rest; no entry is ever lost or doubled.
//
// # Identity of items for Done
//
// Each stored copy of an item has an id, which Add, Put, Revisit and Open
// set in its ID field, whatever ID it had: the crawler Puts copies of items
// Get returned (a retry, a robots.txt wait) while the original may still be
// in flight, and the copy needs an entry, and an id, of its own. Ids start
// at 1 and grow, and are assigned under the Frontier's lock in the order the
// items reach the memory queue, so within a host they follow its FIFO. Done(it)
// deletes the entry q/<it.Host>\x00<it.ID>, and reads no other field: a retry
// differs from its original in ID (and usually Attempt), so Done of the
// original deletes the original's entry and never the copy's.
//
// To catch misuse cheaply, the Frontier keeps the id and host of each item
// handed out by Get and not yet Done (a set as large as the work in flight,
// not the queue): Done panics on an item not in it, so Done twice, Done of
// an item Get never returned (ID 0, which is never assigned, included) or of
// one whose Host was changed fails loudly instead of deleting another
// item's entry or leaving its own on disk.
//
// # Memory
//
// The seen set is not held in memory: Add looks the URL up in Pebble (bloom
// filters keep lookups of new URLs cheap), serialised by a mutex so two Adds
// of one URL cannot both pass the check. Memory therefore follows the queue,
// not the number of URLs ever seen, on top of Pebble's fixed block cache and
// memtables (about 16 MB) and the set of items in flight.
//
// Without a MemoryLimit every queued item is in memory too: its strings and
// its copy in queue.Memory (about 150 bytes plus the URL). With
// queue.Config.MemoryLimit > 0 the Frontier gives its queue.Memory an
// Overflow that is the store's own queue entries: an item beyond the limit
// is already on disk, so spilling it writes nothing, and queue.Memory keeps
// only a count of the host's spilled tail. The store keeps, per host with a
// spilled tail, where the tail starts and its length (see diskOverflow), and
// reads the tail back from disk in order as the host's items are handed out.
// Memory is then bounded by the limit, plus queue.Memory's state for each
// host with queued items and the store's small record for each host with a
// spilled tail. This holds across restarts: Open puts the entries in the
// memory queue host by host, in order, and those beyond the limit cost only
// the count.
//
// Only one process may open a directory at a time: Open takes Pebble's lock
// on the directory and fails if it is held, by another process or by another
// open Frontier in this one.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/crawld/crawld/queue"
)

const (
	schemaVersion = 2 // the layout described in the package doc
	itemVersion   = 1 // the encoding of a queued item
	itemVersionV  = 2 // the encoding of a queued item with Via
	validVersion  = 2 // the encoding of validators (2: with the fetch time)

	// syncEvery is how often the background syncer fsyncs the log when
	// something was written since the last sync.
	syncEvery = time.Second

	// migrateChunk is how many queue entries a schema migration moves per
	// batch, so a large queue does not build one huge batch.
	migrateChunk = 10_000
)

// Key prefixes and counter keys; see the package doc.
const (
	prefixSeen  = "s/"
	prefixQueue = "q/"
	prefixValid = "v/"
	prefixStat  = "k/"
	keyVersion  = "c/version"
	keyCount    = "c/count"
	keySeen     = "c/seen"
	keyNextV1   = "c/next" // schema version 1 only; see the package doc
)

var (
	errClosed  = errors.New("store: frontier is closed")
	errNoHost  = errors.New("store: item has no host")
	errNULHost = errors.New("store: item host contains a NUL byte")
)

// checkHost refuses the hosts a queue key cannot hold (see the package doc).
func checkHost(host string) error {
	switch {
	case host == "":
		return errNoHost
	case strings.IndexByte(host, 0) >= 0:
		return errNULHost
	}
	return nil
}

// Frontier is a crawl frontier whose queue, seen set and admission count
// survive restarts and crashes. It implements the crawler's Frontier
// interface. Safe for concurrent use.
type Frontier struct {
	dir  string
	db   *pebble.DB
	fs   *walFS
	lock *pebble.Lock
	mem  *queue.Memory
	ovf  *diskOverflow // mem's Overflow; nil without a MemoryLimit

	// mu serialises the calls that change the frontier's state (Add, Put,
	// Done, Revisit, Close): the seen check and the write that follows it
	// are one step, and ids are assigned in the order their items enter the
	// memory queue (diskOverflow relies on it). Stats and the validators
	// take it shared, to see closed. Get does not take it, so a Get never
	// waits for another call's disk write.
	mu       sync.RWMutex
	closed   bool
	next     uint64 // the next queue id; ids start at 1
	count    uint64 // the admission count behind Add's limit
	seen     uint64 // the size of the seen set
	key, val []byte // scratch buffers for building keys and values; mu is held

	// handed holds the id and host of every item Get handed out and Done
	// has not finished, to catch misuse (see the package doc). It has its
	// own lock so that Get stays off mu.
	handedMu sync.Mutex
	handed   map[uint64]string

	// With queue.Config.Depths, each seen key's value keeps the URL's
	// smallest depth, lowered by Add (queue.Shallower) and applied by Get.
	// depthMu is held by Get across reading an item's depth and counting
	// it in inFlight, and by Add across lowering a depth, so that Add
	// knows whether an item of the URL was handed out at the old depth
	// (in flight, or Done: then a KindExpand item is queued).
	depths   bool
	depthMu  sync.Mutex
	inFlight map[string]int // URL → items of it handed out and not Done

	failMu  sync.Mutex
	failure error // the first write failure Done or the syncer could not report; returned by Close

	dirty    atomic.Bool   // written since the last fsync
	stopSync chan struct{} // closed by Close to stop the syncer
	synced   chan struct{} // closed by the syncer when it has stopped
}

// Open opens (creating if needed) the store in dir and loads every queued
// item — including those that were in flight when the process last stopped —
// into an in-memory queue with politeness cfg. A database of an older schema
// version is migrated first (see the package doc).
//
// With cfg.MemoryLimit > 0 the memory queue holds items up to that limit and
// leaves the rest on disk only, reading each host's tail back in order as it
// is needed (see the package doc); cfg.Overflow is ignored either way, since
// the store's own queue entries are the overflow, and a second copy of the
// items elsewhere would only cost writes.
//
// Only one process may open a dir at a time (Pebble's lock); a second Open
// fails with a clear error.
func Open(dir string, cfg queue.Config) (*Frontier, error) {
	return open(vfs.Default, dir, cfg, syncEvery)
}

// open is Open with the file system and the syncer's period as parameters,
// for tests.
func open(osFS vfs.FS, dir string, cfg queue.Config, every time.Duration) (*Frontier, error) {
	fail := func(what string, err error) (*Frontier, error) {
		return nil, fmt.Errorf("store: open %s: %s: %w", dir, what, err)
	}
	if err := osFS.MkdirAll(dir, 0o755); err != nil {
		return fail("create directory", err)
	}
	lock, err := pebble.LockDirectory(dir, osFS)
	if err != nil {
		return fail("directory is in use by another process or frontier", err)
	}
	fs := newWALFS(osFS)
	db, err := pebble.Open(dir, pebbleOptions(fs, lock))
	if err != nil {
		_ = lock.Close()
		return fail("open database", err)
	}
	f := &Frontier{
		dir:      dir,
		db:       db,
		fs:       fs,
		lock:     lock,
		handed:   make(map[uint64]string),
		stopSync: make(chan struct{}),
		synced:   make(chan struct{}),
	}
	cfg.Overflow = nil
	// The memory queue has no seen set here: depths are kept on disk.
	f.depths, cfg.Depths = cfg.Depths, false
	f.inFlight = make(map[string]int)
	if cfg.MemoryLimit > 0 {
		f.ovf = newDiskOverflow(db)
		cfg.Overflow = f.ovf
	}
	f.mem = queue.NewMemory(cfg)
	if what, err := f.load(); err != nil {
		_ = db.Close()
		_ = lock.Close()
		return fail(what, err)
	}
	go f.syncLoop(every)
	return f, nil
}

// format is the database's format major version; see the package doc.
const format = pebble.FormatColumnarBlocks

// pebbleOptions returns the options the database is opened with.
func pebbleOptions(fs vfs.FS, lock *pebble.Lock) *pebble.Options {
	opts := &pebble.Options{
		FS:                 fs,
		Lock:               lock,
		Logger:             quietLogger{},
		FormatMajorVersion: format,
	}
	// Most Adds look up a URL that is not there; bloom filters answer
	// those from memory instead of reading a block of every table.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return opts
}

// load checks the schema version, migrating an older layout, restores the
// counters and puts every queued item in the memory queue, host by host, in
// id order. It returns what failed.
func (f *Frontier) load() (string, error) {
	if v := f.db.FormatMajorVersion(); v >= pebble.FormatWALSyncChunks {
		return "check format", fmt.Errorf("database format %s records synced log offsets, which the store's deferred fsync cannot honour", v)
	}
	version, found, err := f.counter(keyVersion)
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
		if *c.dst, _, err = f.counter(c.key); err != nil {
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
		it, err := decodeItem(v)
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

// counter reads a counter, 0 if it is absent.
func (f *Frontier) counter(key string) (n uint64, found bool, err error) {
	v, closer, err := f.db.Get([]byte(key))
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

// Close stops the background syncer, makes everything durable (fsync) and
// closes the DB. Items handed out by Get and not Done stay queued on disk, to
// be fetched after the next Open. Close returns the first error met by a
// write that could not report it (a Done, the background sync) or by closing;
// later calls return nil. After Close, Add, Put, Revisit and SaveValidators
// fail; Get, Done and Join still work on the items in memory, but Done no
// longer records anything, and Get fails on reaching a host whose next items
// are on disk only (see Memory in the package doc).
func (f *Frontier) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.ovf != nil {
		f.ovf.close() // before the database, for a Get reading a spilled tail
	}
	close(f.stopSync)
	<-f.synced
	f.failMu.Lock()
	err := f.failure
	f.failMu.Unlock()
	if serr := f.fs.syncAll(); serr != nil && err == nil {
		err = serr
	}
	if cerr := f.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if lerr := f.lock.Close(); lerr != nil && err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("store: close %s: %w", f.dir, err)
	}
	return nil
}

// syncLoop fsyncs the log every period while anything was written, until
// Close stops it.
func (f *Frontier) syncLoop(every time.Duration) {
	defer close(f.synced)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stopSync:
			return
		case <-t.C:
			if !f.dirty.Swap(false) {
				continue
			}
			if err := f.fs.syncAll(); err != nil {
				f.dirty.Store(true)
				f.fail(fmt.Errorf("sync: %w", err))
			}
		}
	}
}

// fail records the first write failure that has no caller to report it to.
func (f *Frontier) fail(err error) {
	f.failMu.Lock()
	defer f.failMu.Unlock()
	if f.failure == nil {
		f.failure = err
	}
}

// commit applies b and closes it; f.mu is held. pebble.Sync makes Pebble
// write the log record to the file before returning, and walFS defers the
// fsync to the syncer (see the package doc).
func (f *Frontier) commit(b *pebble.Batch) error {
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	if err == nil {
		f.dirty.Store(true)
	}
	return err
}

// Add queues it unless an item with the same URL was added before. With
// limit > 0 the item also counts toward that limit, and is
// refused once limit counted items have been added; with limit <= 0 it
// neither counts nor is limited. The answers are queue.Memory's. The seen
// check, the count check and the write of the seen key, the queue entry and
// the counters are one step, serialised with other Adds, so concurrent Adds
// of one URL queue it once and a crash keeps either all of it or none.
func (f *Frontier) Add(ctx context.Context, it queue.Item, limit int) (queue.Admission, error) {
	if err := checkHost(it.Host); err != nil {
		return queue.Duplicate, err
	}
	if err := ctx.Err(); err != nil {
		return queue.Duplicate, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return queue.Duplicate, errClosed
	}
	f.key = append(append(f.key[:0], prefixSeen...), it.URL...)
	value, closer, err := f.db.Get(f.key)
	switch {
	case err == nil:
		sv := decodeSeen(value)
		_ = closer.Close()
		if f.depths && it.Kind == queue.KindPage && it.Depth < sv.depth {
			return f.shallower(it, sv)
		}
		return queue.Duplicate, nil
	case !errors.Is(err, pebble.ErrNotFound):
		return queue.Duplicate, fmt.Errorf("store: add %s: check seen set: %w", it.URL, err)
	}
	count := f.count
	if limit > 0 {
		if count >= uint64(limit) {
			return queue.OverLimit, nil
		}
		count++
	}
	b := f.db.NewBatch()
	_ = b.Set(f.key, appendSeen(nil, seenValue{kind: it.Kind, depth: it.Depth}, f.depths), nil)
	it.ID = f.next
	f.setQueued(b, it)
	f.setCounter(b, keySeen, f.seen+1)
	if count != f.count {
		f.setCounter(b, keyCount, count)
	}
	if err := f.commit(b); err != nil {
		return queue.Duplicate, fmt.Errorf("store: add %s: %w", it.URL, err)
	}
	f.count = count
	f.seen++
	f.enqueue(it)
	return queue.Added, nil
}

// shallower is Add of it, whose URL is known (sv) at a greater depth; f.mu
// is held and f.key is the URL's seen key. It lowers the URL's depth and,
// if an item of the URL was handed out (in flight, or Done), queues a
// KindExpand item at the new depth in the same batch.
func (f *Frontier) shallower(it queue.Item, sv seenValue) (queue.Admission, error) {
	f.depthMu.Lock()
	defer f.depthMu.Unlock()
	expand := sv.handed || f.inFlight[it.URL] > 0
	b := f.db.NewBatch()
	_ = b.Set(f.key, appendSeen(nil, seenValue{kind: sv.kind, depth: it.Depth}, true), nil)
	if expand {
		it.Kind, it.Attempt, it.ID = queue.KindExpand, 0, f.next
		f.setQueued(b, it)
	}
	if err := f.commit(b); err != nil {
		return queue.Duplicate, fmt.Errorf("store: add %s: %w", it.URL, err)
	}
	if expand {
		f.enqueue(it)
	}
	return queue.Shallower, nil
}

// Put queues it again (a retry) whether or not its URL was added before, and
// counts one unfinished task. The item gets an entry and an ID of its own,
// replacing any ID it had, so Done of the original, if it is in flight,
// leaves this copy queued. It returns an error, and counts nothing, if
// it.Host is "" (or holds a NUL byte), ctx is already done, the Frontier is
// closed or the write fails.
func (f *Frontier) Put(ctx context.Context, it queue.Item) error {
	if err := checkHost(it.Host); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	b := f.db.NewBatch()
	it.ID = f.next
	f.setQueued(b, it)
	if err := f.commit(b); err != nil {
		return fmt.Errorf("store: put %s: %w", it.URL, err)
	}
	f.enqueue(it)
	return nil
}

// setQueued adds the queue entry of it, under it.ID, to b; f.mu is held.
func (f *Frontier) setQueued(b *pebble.Batch, it queue.Item) {
	f.key = appendQueueKey(f.key[:0], it.Host, it.ID)
	f.val = appendItem(f.val[:0], it)
	_ = b.Set(f.key, f.val, nil)
}

// setCounter adds a counter's new value to b; f.mu is held.
func (f *Frontier) setCounter(b *pebble.Batch, key string, n uint64) {
	f.key = append(f.key[:0], key...)
	f.val = binary.BigEndian.AppendUint64(f.val[:0], n)
	_ = b.Set(f.key, f.val, nil)
}

// enqueue puts it, just written under id f.next, in the memory queue; f.mu is
// held, so ids reach the memory queue in the order they were assigned. The
// memory queue cannot refuse it: the host and ctx were checked, ctx is not
// passed on, and diskOverflow.Spill never fails, so that an item on disk is
// always in memory (or counted as spilled) too.
func (f *Frontier) enqueue(it queue.Item) {
	if it.ID != f.next {
		panic(fmt.Sprintf("store: internal error: item %s queued with id %d, next id %d", it.URL, it.ID, f.next))
	}
	f.next++
	_ = f.mem.Put(context.Background(), it)
}

// Get blocks until some host may be fetched now, then hands out the oldest
// item of the host that became ready first (see queue.Memory.Get), with its
// ID set. The caller must call Done with the item's Host and ID unchanged
// when it has finished with it; until then the item stays queued on disk. If
// ctx is done, Get returns ctx.Err() and no item. With a MemoryLimit, Get
// also fails if the host's next items had to be read back from disk and
// could not be (after Close, for one). With queue.Config.Depths the item's
// Depth is its URL's smallest known (a read of its seen key).
func (f *Frontier) Get(ctx context.Context) (queue.Item, error) {
	it, err := f.mem.Get(ctx)
	if err != nil {
		return queue.Item{}, err
	}
	if it.ID == 0 {
		panic("store: internal error: item from the memory queue has no id: " + it.URL)
	}
	if f.depths && it.Kind != queue.KindSitemap {
		f.depthMu.Lock()
		f.inFlight[it.URL]++
		if value, closer, err := f.db.Get(append([]byte(prefixSeen), it.URL...)); err == nil {
			// Unreadable, the item keeps its depth: the worst is a
			// depth found since not applied.
			it.Depth = min(it.Depth, decodeSeen(value).depth)
			_ = closer.Close()
		}
		f.depthMu.Unlock()
	}
	f.handedMu.Lock()
	f.handed[it.ID] = it.Host
	f.handedMu.Unlock()
	return it, nil
}

// Done marks an item returned by Get as finished: its entry is deleted from
// disk, so it is not fetched again after a restart, and its task is finished
// in the memory queue, releasing Join when none remain. Only it.Host and
// it.ID are read; they must be those of an item Get returned and Done was
// not yet called for, and Done panics otherwise. If the delete cannot be
// written the item stays on disk (it would be fetched again after a
// restart) and Close reports the error.
func (f *Frontier) Done(it queue.Item) {
	f.unhand(it, "Done")
	f.mu.Lock()
	if !f.closed {
		b := f.db.NewBatch()
		f.key = appendQueueKey(f.key[:0], it.Host, it.ID)
		_ = b.Delete(f.key, nil)
		if f.depths && it.Kind != queue.KindSitemap {
			f.doneAtDepth(b, it.URL)
		}
		if err := f.commit(b); err != nil {
			f.fail(fmt.Errorf("done %s: %w", it.URL, err))
		}
	}
	f.mu.Unlock()
	f.mem.Done(it)
}

// doneAtDepth counts an item of url out of inFlight and adds to b the
// URL's seen value marked handed, so that a smaller depth found later
// queues a KindExpand item; f.mu is held, which keeps Add out until b is
// written.
func (f *Frontier) doneAtDepth(b *pebble.Batch, url string) {
	f.depthMu.Lock()
	if f.inFlight[url]--; f.inFlight[url] <= 0 {
		delete(f.inFlight, url)
	}
	f.depthMu.Unlock()
	key := append([]byte(prefixSeen), url...)
	value, closer, err := f.db.Get(key)
	if err != nil {
		return // not seen (Put without Add): nothing to mark
	}
	sv := decodeSeen(value)
	_ = closer.Close()
	sv.handed = true
	_ = b.Set(key, appendSeen(nil, sv, true), nil)
}

// Release gives back an item returned by Get without finishing it, for an
// item whose outcome could not be recorded (or that the crawl stopped
// before): its entry stays on disk, so a restart fetches it again, and it is
// its host's oldest queued item in memory again, under the same ID (see
// queue.Memory.Release). It writes nothing. The item must be one Get
// returned, unchanged, that neither Done nor Release was called for;
// Release panics otherwise.
func (f *Frontier) Release(it queue.Item) {
	f.unhand(it, "Release")
	if f.depths && it.Kind != queue.KindSitemap {
		f.depthMu.Lock()
		if f.inFlight[it.URL]--; f.inFlight[it.URL] <= 0 {
			delete(f.inFlight, it.URL)
		}
		f.depthMu.Unlock()
	}
	f.mem.Release(it)
}

// unhand takes it off the items handed out, panicking, as op, if Get did
// not hand it out or it was settled already.
func (f *Frontier) unhand(it queue.Item, op string) {
	f.handedMu.Lock()
	host, ok := f.handed[it.ID]
	ok = ok && host == it.Host
	if ok {
		delete(f.handed, it.ID)
	}
	f.handedMu.Unlock()
	if !ok {
		panic(fmt.Sprintf("store: %s of an item not handed out by Get (or Done or Released already): id %d, %s", op, it.ID, it.URL))
	}
}

// Join blocks until every item queued so far — including those loaded by
// Open — has been marked Done, returning nil at once if none is unfinished,
// or until ctx is done, returning ctx.Err().
func (f *Frontier) Join(ctx context.Context) error { return f.mem.Join(ctx) }

// SetInterval sets the minimum time between the starts of two requests to
// host (see queue.Memory.SetInterval). It is not persisted: robots.txt is
// read again after a restart.
func (f *Frontier) SetInterval(host string, d time.Duration) { f.mem.SetInterval(host, d) }

// Block makes Get hand out no item of host before until (see
// queue.Memory.Block). It is not persisted.
func (f *Frontier) Block(host string, until time.Time) { f.mem.Block(host, until) }

// Unblock lifts any block on host at once (see queue.Memory.Unblock).
func (f *Frontier) Unblock(host string) { f.mem.Unblock(host) }

// Holds reports whether the frontier holds state for host (see
// queue.Memory.Holds); a host with items on disk only is held too.
func (f *Frontier) Holds(host string) bool { return f.mem.Holds(host) }

// Reconfigure changes every host's politeness, as queue.Memory.Reconfigure.
func (f *Frontier) Reconfigure(cfg queue.Config) { f.mem.Reconfigure(cfg) }

// Stats returns the memory queue's stats, with Seen the size of the
// persisted seen set (distinct URLs given to Add so far, over
// all runs). With a MemoryLimit, Spilled counts the queued items that are
// on disk only, and MemoryBytes is the memory queue's estimate of what the
// others take.
func (f *Frontier) Stats() queue.Stats {
	s := f.mem.Stats()
	f.mu.RLock()
	s.Seen = int(f.seen)
	f.mu.RUnlock()
	return s
}

// revisitChunk is how many items Revisit writes per batch, so a large seen
// set does not build one huge batch.
const revisitChunk = 10_000

// Revisit starts a new round of the crawl (a recrawl), as
// queue.Memory.Revisit: every URL in the seen set is queued again, at the
// depth it was first added with, and the admission count restarts at the
// number of pages so queued. The seen set stays. It writes in batches of
// revisitChunk items; a crash in between leaves the round partly queued,
// which the next Revisit completes (at the cost of duplicates in the queue).
func (f *Frontier) Revisit(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixSeen), UpperBound: prefixEnd(prefixSeen)})
	if err != nil {
		return 0, fmt.Errorf("store: revisit: %w", err)
	}
	defer iter.Close()
	var (
		b       = f.db.NewBatch()
		pending []queue.Item
		queued  int
		pages   uint64
	)
	flush := func() error {
		f.setCounter(b, keyCount, pages)
		if err := f.commit(b); err != nil {
			return err
		}
		for _, it := range pending {
			f.enqueue(it)
		}
		queued += len(pending)
		pending, b = pending[:0], f.db.NewBatch()
		return nil
	}
	for iter.First(); iter.Valid(); iter.Next() {
		if err := ctx.Err(); err != nil {
			_ = b.Close()
			return queued, err
		}
		raw := string(iter.Key()[len(prefixSeen):])
		it, err := seenItem(raw, iter.Value())
		if err != nil {
			continue // a URL that no longer parses cannot be fetched anyway
		}
		if it.Kind == queue.KindPage {
			pages++
		}
		it.ID = f.next + uint64(len(pending))
		f.setQueued(b, it)
		pending = append(pending, it)
		if len(pending) == revisitChunk {
			if err := flush(); err != nil {
				return queued, fmt.Errorf("store: revisit: %w", err)
			}
		}
	}
	if err := iter.Error(); err != nil {
		_ = b.Close()
		return queued, fmt.Errorf("store: revisit: %w", err)
	}
	if err := flush(); err != nil {
		return queued, fmt.Errorf("store: revisit: %w", err)
	}
	_ = b.Close()
	f.count = pages
	return queued, nil
}

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

// Validators returns the HTTP cache validators stored for url by
// SaveValidators; ok is false if none are stored (or the Frontier is closed,
// or they cannot be read).
func (f *Frontier) Validators(url string) (etag, lastModified string, fetchedAt time.Time, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return "", "", time.Time{}, false
	}
	v, closer, err := f.db.Get(append([]byte(prefixValid), url...))
	if err != nil {
		return "", "", time.Time{}, false
	}
	defer closer.Close()
	etag, lastModified, fetchedAt, err = decodeValidators(v)
	return etag, lastModified, fetchedAt, err == nil
}

// SaveValidators stores url's ETag, Last-Modified and the time it was last
// fetched, for conditional requests in a recrawl. A zero fetchedAt with
// empty validators deletes the entry.
func (f *Frontier) SaveValidators(url, etag, lastModified string, fetchedAt time.Time) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	key := append([]byte(prefixValid), url...)
	var err error
	if etag == "" && lastModified == "" && fetchedAt.IsZero() {
		err = f.db.Delete(key, pebble.Sync)
	} else {
		err = f.db.Set(key, appendValidators(nil, etag, lastModified, fetchedAt), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("store: save validators of %s: %w", url, err)
	}
	f.dirty.Store(true)
	return nil
}

// Counters returns the counters last saved by SaveCounters.
func (f *Frontier) Counters() (map[string]int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, errClosed
	}
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixStat), UpperBound: prefixEnd(prefixStat)})
	if err != nil {
		return nil, fmt.Errorf("store: counters: %w", err)
	}
	defer iter.Close()
	counters := make(map[string]int64)
	for iter.First(); iter.Valid(); iter.Next() {
		if n, k := binary.Varint(iter.Value()); k > 0 {
			counters[string(iter.Key()[len(prefixStat):])] = n
		}
	}
	return counters, iter.Error()
}

// SaveCounters stores the crawl's counters, replacing those of the same
// names, in one batch.
func (f *Frontier) SaveCounters(counters map[string]int64) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	b := f.db.NewBatch()
	for name, n := range counters {
		_ = b.Set(append([]byte(prefixStat), name...), binary.AppendVarint(nil, n), nil)
	}
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	if err != nil {
		return fmt.Errorf("store: save counters: %w", err)
	}
	f.dirty.Store(true)
	return nil
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

// quietLogger is Pebble's logger for the store: crawld logs JSON through zap,
// and Pebble's informational lines would pollute it. Fatalf must not return
// (Pebble continues as if the process had ended), so it panics with the
// message, as the default logger would exit with it.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
