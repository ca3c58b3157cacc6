package store

import (
	"errors"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFS is the file system the database runs on: the operating system's,
// except that the write-ahead log files it opens for writing defer their
// fsync. Their Sync, SyncData and SyncTo return at once, having done
// nothing; syncAll makes them durable (the Frontier's syncer calls it about
// once a second), and Close makes a log durable before closing it.
//
// Why: a Pebble commit with pebble.NoSync leaves its log record in a
// user-space buffer of Pebble's log writer, written to the file only once a
// 32 KiB block fills or someone asks for a sync, so a killed process would
// lose the last up to 32 KiB of commits. A commit with pebble.Sync makes the
// log writer write(2) the record to the file before returning, and with
// walFS that is all it does: the record is in the page cache, which a killed
// process cannot lose, and the commit does not wait for the disk.
//
// The other files (tables, the MANIFEST, the OPTIONS and marker files, the
// directory) are synced as Pebble asks, so Pebble's own crash safety is
// untouched: a log is only deleted or recycled once the memtable it backs
// has been flushed to a synced table, and a log is synced before it is closed.
type walFS struct {
	vfs.FS

	mu   sync.Mutex
	logs map[*walFile]struct{} // the logs open for writing
}

// walCategory is the category Pebble creates its write-ahead log files with.
const walCategory vfs.DiskWriteCategory = "pebble-wal"

func newWALFS(fs vfs.FS) *walFS {
	return &walFS{FS: fs, logs: make(map[*walFile]struct{})}
}

// isWAL reports whether a file created with name and category is a
// write-ahead log. Both are checked, so that a file is missed only if Pebble
// changed both; a missed log is merely synced as Pebble asks, which is slower
// but no less safe.
func isWAL(name string, category vfs.DiskWriteCategory) bool {
	return category == walCategory || strings.HasSuffix(name, ".log")
}

// Create implements vfs.FS.
func (fs *walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !isWAL(name, category) {
		return f, err
	}
	return fs.track(f), nil
}

// ReuseForWrite implements vfs.FS; Pebble recycles old logs with it.
func (fs *walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil || !isWAL(newname, category) {
		return f, err
	}
	return fs.track(f), nil
}

func (fs *walFS) track(f vfs.File) *walFile {
	w := &walFile{File: f, fs: fs}
	fs.mu.Lock()
	fs.logs[w] = struct{}{}
	fs.mu.Unlock()
	return w
}

// open returns the number of logs open for writing.
func (fs *walFS) open() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.logs)
}

// syncAll makes everything written to the open logs durable.
func (fs *walFS) syncAll() error {
	fs.mu.Lock()
	logs := make([]*walFile, 0, len(fs.logs))
	for w := range fs.logs {
		logs = append(logs, w)
	}
	fs.mu.Unlock()
	var errs []error
	for _, w := range logs {
		errs = append(errs, w.sync())
	}
	return errors.Join(errs...)
}

// walFile is a write-ahead log file whose syncs are deferred (see walFS).
type walFile struct {
	vfs.File
	fs *walFS

	mu     sync.Mutex // serialises sync with Close
	closed bool
}

// Sync implements vfs.File: it does nothing (see walFS).
func (w *walFile) Sync() error { return nil }

// SyncData implements vfs.File: it does nothing (see walFS).
func (w *walFile) SyncData() error { return nil }

// SyncTo implements vfs.File: it does nothing, which fullSync false tells.
func (w *walFile) SyncTo(int64) (fullSync bool, err error) { return false, nil }

// sync makes what was written to the file durable.
func (w *walFile) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	return w.File.SyncData()
}

// Close makes the file durable and closes it.
func (w *walFile) Close() error {
	w.fs.mu.Lock()
	delete(w.fs.logs, w)
	w.fs.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return errors.Join(w.File.SyncData(), w.File.Close())
}
