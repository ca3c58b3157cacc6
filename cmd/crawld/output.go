package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/crawld/crawld/crawler"
)

// outputFile is the JSONL output file: appended to, rotated by size when
// maxSize > 0, and made durable by Sync.
//
// Why Sync: with a durable frontier (Pebble, Redis) an item marked done is
// never fetched again, so its record must be on disk before it is marked
// done, or a machine crash (power loss, kernel panic) that drops the page
// cache would lose records the frontier calls done. The crawler therefore
// calls Sync after writing each record and before the item's Done (see
// crawler.Syncer), which gives the order record durable → done, whatever
// route the frontier's "done" takes to disk or to Redis afterwards.
//
// Sync is a group commit: one fsync makes every write that came before it
// durable, so workers that wrote while another was syncing find their
// records synced already, or share the next fsync. A failed fsync is
// sticky: the kernel may have dropped the pages it could not write, so
// every later Write and Sync fails too and the crawl stops rather than go
// on marking items done.
//
// Rotation is done here, not by lumberjack's own size check (its MaxSize is
// set out of reach), so that the file is fsynced before it is moved aside
// and the directory after: lumberjack alone closes and renames a file
// without syncing it. lumberjack still names the backups and removes those
// beyond MaxBackups. A record larger than maxSize gets a file to itself.
type outputFile struct {
	path    string
	w       io.Writer          // where records go: file, or lj
	lj      *lumberjack.Logger // nil for a file that is not rotated
	maxSize int64              // rotate before a write would pass it; 0: never
	durable bool               // a regular file: fsync means something

	// syncMu serialises fsyncs and rotations, and is held across them but
	// not across writes, so that records written during an fsync are
	// covered by the next one. It is taken before mu.
	syncMu sync.Mutex
	synced uint64 // writes made durable; syncMu is held

	mu      sync.Mutex // guards the fields below; held across a write
	file    *os.File   // the current file: written to, or, with lj, a read-only handle for fsync
	size    int64      // bytes in the current file
	written uint64     // writes so far
	err     error      // sticky failure of an fsync or a rotation, or closed
}

// openOutputFile opens path for appending, creating it if needed, rotated
// by size with maxSizeMB > 0 (keeping maxBackups rotated files, 0 all). A
// file just created has its directory entry synced at once.
func openOutputFile(path string, maxSizeMB, maxBackups int) (*outputFile, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("output: %w", err)
	}
	o := &outputFile{path: path, w: f, file: f, size: fi.Size(), durable: fi.Mode().IsRegular()}
	if o.durable && errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(path); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("output: %w", err)
		}
	}
	if maxSizeMB > 0 && o.durable {
		// lumberjack reopens the file for writing; f stays open read-only
		// for fsync (which syncs the file, whatever the descriptor).
		_ = f.Close()
		if o.file, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		o.lj = &lumberjack.Logger{Filename: path, MaxSize: math.MaxInt32, MaxBackups: maxBackups}
		o.w, o.maxSize = o.lj, int64(maxSizeMB)<<20
	}
	return o, nil
}

// full reports whether p would take the current file past the size limit;
// o.mu is held. An empty file takes any record.
func (o *outputFile) full(p []byte) bool {
	return o.lj != nil && o.size > 0 && o.size+int64(len(p)) > o.maxSize
}

// Write appends p (one record) to the file, rotating it first if p would
// take it past the size limit.
func (o *outputFile) Write(p []byte) (int, error) {
	o.mu.Lock()
	for o.err == nil && o.full(p) {
		o.mu.Unlock()
		o.rotate(p)
		o.mu.Lock()
	}
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	o.size += int64(n)
	o.written++
	return n, err
}

// rotate makes the current file durable, has lumberjack move it aside and
// start a new one, and makes the rename durable, unless another writer
// rotated meanwhile; a failure is kept in o.err.
func (o *outputFile) rotate(p []byte) {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil || !o.full(p) {
		return
	}
	if err := o.file.Sync(); err != nil {
		o.err = fmt.Errorf("sync %s: %w", o.path, err)
		return
	}
	o.synced = o.written
	if err := o.lj.Rotate(); err != nil {
		o.err = fmt.Errorf("rotate %s: %w", o.path, err)
		return
	}
	_ = o.file.Close() // no fsync uses it: syncMu is held
	f, err := os.Open(o.path)
	if err == nil {
		err = syncDir(o.path)
	}
	if err != nil {
		o.err = fmt.Errorf("rotate %s: %w", o.path, err)
		_ = f.Close()
		return
	}
	o.file, o.size = f, 0
}

// Sync makes every record written before it durable. It is a group
// commit: one fsync covers every write made before it started, so a
// caller whose write was covered by an fsync that started later returns
// at once, and none is made if nothing was written since the last. It does
// nothing for an output that is not a regular file (a device, a FIFO).
func (o *outputFile) Sync() error {
	if !o.durable {
		return o.failure()
	}
	o.mu.Lock()
	want := o.written
	o.mu.Unlock()
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.synced >= want {
		return o.failure()
	}
	o.mu.Lock()
	upTo, f, err := o.written, o.file, o.err
	o.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		o.mu.Lock()
		o.err = cmpErr(o.err, fmt.Errorf("sync %s: %w", o.path, err))
		o.mu.Unlock()
		return o.failure()
	}
	o.synced = upTo
	return nil
}

// failure returns the sticky error, if any.
func (o *outputFile) failure() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Close syncs and closes the file; Write and Sync fail from then on.
func (o *outputFile) Close() error {
	err := o.Sync()
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lj != nil {
		err = errors.Join(err, o.lj.Close())
	}
	err = errors.Join(err, o.file.Close())
	o.err = cmpErr(o.err, errors.New("output: closed"))
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// syncDir makes the directory entries of path's directory durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// syncedSink is a record sink whose records Sync makes durable.
type syncedSink struct {
	*crawler.JSONLSink
	out *outputFile
}

var (
	_ crawler.Syncer  = syncedSink{}
	_ crawler.Flusher = syncedSink{}
)

// Sync makes the records written so far durable (see outputFile).
func (s syncedSink) Sync() error { return s.out.Sync() }

// output is where records go: stdout, or an outputFile.
type output struct {
	io.Writer
	file *outputFile // nil for stdout
}

// openOutput opens the JSONL destination: stdout for "-", else a file that
// is appended to, so a rerun never destroys earlier records, rotated by size
// with maxSizeMB > 0.
func openOutput(path string, maxSizeMB, maxBackups int, stdout io.Writer) (output, error) {
	if path == "-" {
		return output{Writer: stdout}, nil
	}
	f, err := openOutputFile(path, maxSizeMB, maxBackups)
	if err != nil {
		return output{}, err
	}
	return output{Writer: f, file: f}, nil
}

// Close syncs and closes the output file; stdout is left open.
func (o output) Close() error {
	if o.file == nil {
		return nil
	}
	return o.file.Close()
}

// sink returns the record sink writing to o. With durable (the frontier
// outlives the process: Pebble, Redis) and a file, the crawler syncs each
// record before its item is done (see outputFile); stdout is the reader's
// to make durable.
func (o output) sink(durable bool) crawler.Sink {
	jsonl := crawler.NewJSONLSink(o)
	if durable && o.file != nil {
		return syncedSink{JSONLSink: jsonl, out: o.file}
	}
	return jsonl
}
