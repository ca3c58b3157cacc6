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
//	s/<url>              seen set: the URL was admitted so far (value: version, kind, depth, for Revisit
//	                     and the shortest depth; version 2 adds a byte: 1 when no item of the URL was
//	                     queued since one was Done, see queue.Config.Depths)
//	q/<host>\x00<id>     a queued item (see below); id is 8 bytes, big-endian, and ids
//	                     grow, so key order is each host's queue order
//	v/<url>              fetch metadata: version byte 2, ETag and Last-Modified (uvarint
//	                     length, bytes), then the last fetch time (varint Unix nanoseconds)
//	k/<name>             the crawl's counters (pages, errors, bytes…), saved by SaveCounters
//	a/<url>              the archived capture a 304 for the URL refers to (SaveCapture): version 1,
//	                     the WARC-Date (varint Unix nanoseconds), then the record's URI ("" for the
//	                     URL's own), id and payload digest (uvarint length, bytes)
//	d/<digest>           the archive's digest index (Digests): the capture first archived with that
//	                     payload digest, encoded as a/ values are (its digest being the key); claims
//	                     are written in batches, by the syncer before each fsync and by Close, so a
//	                     crash can forget the last second's: their payloads are then stored again
//	h/<host>             the host's admission count behind queue.Limits.PagesPerHost
//	c/version            schema version of the layout (currently 2)
//	c/count              the admission count behind queue.Limits.Pages
//	c/seen               the size of the seen set, for Stats
//
// Counters are 8 bytes, big-endian. An h/<host> counter is written only by
// an Admit with PagesPerHost > 0, for each item it adds (not for a Put, nor
// for the KindExpand item of a Shallower admission), and Revisit leaves it
// as it is. It is absent for a crawl from before this version, or one that
// never capped its hosts: such a host then counts from 0. The h/ keys came
// without a new schema version: an older crawld ignores them (and leaves
// what it admits uncounted).
//
// Queue entries are grouped by host so that a host's tail can be read back
// from disk in order (see Memory). A host never contains a NUL byte (Admit
// and Put refuse one), so the NUL after it ends it: a host's entries sort
// before those of every host it is a prefix of, and q/<host>\x00 to
// q/<host>\x01 spans exactly its entries.
//
// A queued item is encoded as a version byte (1) followed by URL, Host,
// Depth, Kind, Redirects, Origin and Attempt: strings as uvarint length and
// bytes, integers as varints, Kind as one byte. Version 2 appends Via; an
// item without one is still written as version 1. A field is added by
// appending it under a new version byte, the decoder then reading both
// versions (the field zero in the old one). The item's ID is its key's.
// The encoding is pebbleq.AppendItem's, shared with the memory frontier's
// scratch spill (package spill).
//
// Admit writes the seen keys, queue entries and updated counters of a call in
// one batch, Put writes a queue entry, Done deletes one queue entry, and Revisit
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
// The seen set is not held in memory: Admit looks the URL up in Pebble (bloom
// filters keep lookups of new URLs cheap), serialised by a mutex so two Admits
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
