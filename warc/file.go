package warc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// writebackChunk is how much of a file is handed to the operating system
// before the kernel is asked to start writing it back.
const writebackChunk = 4 << 20

// openSuffix marks a file still being written; it is renamed without it
// when complete.
const openSuffix = ".open"

// file is the WARC file being written: records go through a buffer that
// Sync flushes, for all the exchanges written since at once.
type file struct {
	f    *os.File
	buf  *bufio.Writer
	path string // the path while written, ending .open
	name string // the final name, without directory or .open
	size int64  // bytes written, buffered or not: the next record's offset
	// writtenBack is where the kernel was last asked to write the file
	// back from (see startWriteback).
	writtenBack int64

	cdxj []string // the index lines of its records so far, unsorted (cdxj.go)
}

// createFile creates the next file and writes its warcinfo record.
func (w *Writer) createFile() error {
	dir, base := w.names.NewWarcfileName()
	name := base
	if w.cfg.Compress {
		name += ".gz"
	}
	path := filepath.Join(dir, name+openSuffix)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	if err := lockFile(f); err != nil { // kept from another process's repair
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("warc: lock %s: %w", name, err)
	}
	w.cur = &file{f: f, buf: bufio.NewWriterSize(f, 64<<10), path: path, name: name}
	info, err := w.warcinfo(name)
	if err == nil {
		var b batch
		if err = w.encode(&b, "", []*record{info}); err == nil {
			err = w.appendBytes(b.buf.Bytes())
		}
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		w.cur, w.broken = nil, false
		return fmt.Errorf("warc: %s: %w", name, err)
	}
	w.infoID = info.id
	return nil
}

// appendBytes appends encoded records to the current file's buffer. A
// failure leaves the file ending in part of a record, which no later
// record may follow.
func (w *Writer) appendBytes(b []byte) error {
	n, err := w.cur.buf.Write(b)
	w.cur.size += int64(n)
	if err != nil {
		w.broken = true
		return fmt.Errorf("warc: %s: %w", w.cur.name, err)
	}
	return nil
}

// flush hands what is buffered to the operating system. With w.mu held.
func (w *Writer) flush() error {
	if w.cur == nil || w.flushed == w.written {
		return nil
	}
	if err := w.cur.buf.Flush(); err != nil {
		w.broken = true
		return fmt.Errorf("warc: %s: %w", w.cur.name, err)
	}
	w.flushed = w.written
	if cur := w.cur; cur.size-cur.writtenBack >= writebackChunk {
		startWriteback(cur.f, cur.writtenBack, cur.size-cur.writtenBack)
		cur.writtenBack = cur.size
	}
	return nil
}

// finishFile completes the current file: flushed, fsynced, closed and
// renamed without .open (the directory fsynced too, so the name survives
// a crash). A file whose last record was cut short by a failed write is
// left .open, for the repair on the next Open.
func (w *Writer) finishFile() error {
	cur := w.cur
	if cur == nil {
		return nil
	}
	w.cur = nil
	err := cur.buf.Flush()
	if err == nil {
		err = cur.f.Sync()
	}
	if err != nil || w.broken {
		w.broken = false
		return errors.Join(fmt.Errorf("warc: %s left incomplete", cur.name), err, cur.f.Close())
	}
	// Renamed before it is closed, under its lock: a repair that gets the
	// lock finds it renamed, or its writer dead (see repairFile).
	final := strings.TrimSuffix(cur.path, openSuffix)
	err = os.Rename(cur.path, final)
	if err = errors.Join(err, cur.f.Close()); err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	w.flushed, w.synced = w.written, w.written
	return w.fileDone(final, cur)
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// replaceAtomically writes the file at path with write, through path.open,
// fsynced and renamed, the directory fsynced too: a crash leaves all of it
// or none. The .open file is removed on failure.
func replaceAtomically(path string, write func(io.Writer) error) error {
	tmp := path + openSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
