package warc

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlnwa/gowarc/v3"
)

// openSuffix marks a file still being written; it is renamed without it
// when complete.
const openSuffix = ".open"

// file is the WARC file being written: records go through a buffer (so a
// record's gzip member is not many small writes) that is flushed after
// each exchange, so that what WriteExchange returns is in the operating
// system's hands.
type file struct {
	f    *os.File
	buf  *bufio.Writer
	path string // the path while written, ending .open
	name string // the final name, without directory or .open
	size int64  // bytes written, buffered or not: the next record's offset
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
		_, _, err = w.writeRecord(info)
		_ = info.Close()
	}
	if err == nil {
		err = w.cur.buf.Flush()
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		w.cur = nil
		return fmt.Errorf("warc: %s: %w", name, err)
	}
	w.infoID = info.RecordId()
	return nil
}

// writeRecord appends rec to the current file, as its own gzip member if
// compressed, and returns its offset and length in the file.
func (w *Writer) writeRecord(rec gowarc.WarcRecord) (offset, length int64, err error) {
	cur := w.cur
	offset = cur.size
	out := &counter{w: cur.buf}
	var to io.Writer = out
	if w.cfg.Compress {
		if w.gz == nil {
			w.gz = gzip.NewWriter(out)
		} else {
			w.gz.Reset(out)
		}
		to = w.gz
	}
	_, _, err = w.marshaler.Marshal(to, rec, 0)
	if err == nil && w.cfg.Compress {
		err = w.gz.Close()
	}
	cur.size += out.n
	if err != nil {
		// The file now ends in part of a record: no later record may
		// follow it there.
		w.broken = true
	}
	return offset, out.n, err
}

// flush hands what is buffered to the operating system.
func (w *Writer) flush() error {
	if err := w.cur.buf.Flush(); err != nil {
		w.broken = true
		return fmt.Errorf("warc: %s: %w", w.cur.name, err)
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
	w.synced = w.written
	return nil
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
