package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/queue"
)

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
//
// Without WithLogger the store logs nothing; the errors of the calls that
// have a caller are returned to it either way.
func Open(dir string, cfg queue.Config, opts ...Option) (*Frontier, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return open(vfs.Default, dir, cfg, syncEvery, o.log)
}

// Option is an optional setting of Open.
type Option func(*options)

type options struct {
	log *zap.Logger
}

// WithLogger makes the Frontier log to log: Pebble's own lines (at debug
// level, its errors at error level) and its background events (a failed
// flush or compaction at error level, write stalls and low disk space at
// warn; see pebbleq.EventListener), and the failures of the store's writes
// and reads that have no caller to return them to, when they happen. A nil
// log logs nothing.
func WithLogger(log *zap.Logger) Option {
	return func(o *options) { o.log = log }
}

// open is Open with the file system and the syncer's period as parameters,
// for tests.
func open(osFS vfs.FS, dir string, cfg queue.Config, every time.Duration, log *zap.Logger) (*Frontier, error) {
	if log == nil {
		log = zap.NewNop()
	}
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
	db, err := pebble.Open(dir, pebbleOptions(fs, lock, log))
	if err != nil {
		_ = lock.Close()
		return fail("open database", err)
	}
	f := &Frontier{
		dir:      dir,
		log:      log,
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

// pebbleOptions returns the options the database is opened with, logging
// to log.
func pebbleOptions(fs vfs.FS, lock *pebble.Lock, log *zap.Logger) *pebble.Options {
	opts := &pebble.Options{
		FS:                 fs,
		Lock:               lock,
		Logger:             pebbleq.Logger(log),
		EventListener:      pebbleq.EventListener(log),
		FormatMajorVersion: format,
	}
	// Most Adds look up a URL that is not there; bloom filters answer
	// those from memory instead of reading a block of every table.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return opts
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
	// Before f.mu, which writeClaims takes after digestMu.
	claimsErr := f.writeClaims()
	if errors.Is(claimsErr, errClosed) {
		claimsErr = nil
	}
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
	f.writing.Wait() // their failures are reported below
	f.failMu.Lock()
	err := f.failure
	if err == nil {
		err = claimsErr
	}
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
