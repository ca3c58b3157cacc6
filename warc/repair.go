package warc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nlnwa/gowarc/v3"
	"go.uber.org/zap"
)

// A crash (kill -9, a power cut) leaves the file being written with its
// .open suffix, ending in at most one incomplete record: the buffer is
// flushed after each exchange, so only the record being written can be
// cut short (what of it the buffer had handed over when it filled). Before writing anything, Open
// makes each such file of this writer a valid WARC again: cut after its
// last whole record and renamed without .open, as finishFile would have.

// repairScan is what reading a file left .open found.
type repairScan struct {
	records int   // whole, valid records from the start
	end     int64 // the offset just after the last of them
	stop    error // why reading stopped (io.EOF at the end of the file)
}

// repair repairs every file this writer left .open in its directory. Only
// files with this writer's prefix and node are touched: another node
// writing into the same directory is alive, and its open file is its own.
func (w *Writer) repair() error {
	entries, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	mine := openFileName(w.names.prefix, w.names.node)
	for _, e := range entries {
		if !e.Type().IsRegular() || !mine.MatchString(e.Name()) {
			continue
		}
		if err := w.repairFile(filepath.Join(w.cfg.Dir, e.Name())); err != nil {
			return fmt.Errorf("warc: repair %s: %w", e.Name(), err)
		}
	}
	return nil
}

// openFileName matches the names of the files a writer with prefix and
// node leaves .open (see names): PREFIX-TIMESTAMP-SERIAL-NODE.warc, .gz
// or not, as a writer configured otherwise before the restart left it.
func openFileName(prefix, node string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `-\d{17}-\d{5,}-` + regexp.QuoteMeta(node) +
		`\.warc(\.gz)?` + regexp.QuoteMeta(openSuffix) + `$`)
}

// repairFile cuts the file at path after its last whole, valid record,
// fsyncs it and renames it without .open (the directory fsynced too); a
// file without even its whole warcinfo record is removed. A file another
// process holds locked (see lockFile) is being written, and left alone:
// two processes may share a node's name (the host name, by default).
func (w *Writer) repairFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close() // and the lock with it
	name := filepath.Base(path)
	if err := lockFile(f); errors.Is(err, errLocked) {
		w.cfg.Logger.Info("WARC file left .open alone: another process is writing it", zap.String("file", name))
		return nil
	} else if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if now, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || err == nil && !os.SameFile(fi, now) {
		return nil // completed by its writer between our open and our lock
	} else if err != nil {
		return err
	}
	scan, err := scanRecords(f)
	if err != nil {
		return err
	}
	final := strings.TrimSuffix(path, openSuffix)
	log := w.cfg.Logger.With(zap.String("file", name), zap.Int64("size", fi.Size()), zap.Int("records", scan.records))
	if scan.end < fi.Size() {
		log = log.With(zap.Int64("cut_bytes", fi.Size()-scan.end), zap.NamedError("cut_at", scan.stop))
	}
	if scan.records == 0 {
		if err := os.Remove(path); err != nil {
			return err
		}
		if err := syncDir(w.cfg.Dir); err != nil {
			return err
		}
		log.Warn("WARC file left open by a crash removed: not even its warcinfo record is whole")
		return nil
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s exists: not overwritten", filepath.Base(final))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	err = f.Truncate(scan.end)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return err
	}
	if err := os.Rename(path, final); err != nil {
		return err
	}
	if err := syncDir(w.cfg.Dir); err != nil {
		return err
	}
	if scan.end < fi.Size() {
		log.Warn("WARC file left open by a crash repaired: cut after its last whole record",
			zap.String("renamed_to", filepath.Base(final)))
	} else {
		log.Info("WARC file left open by a crash completed: every record whole",
			zap.String("renamed_to", filepath.Base(final)))
	}
	return w.repaired(final)
}

// repaired is called with the final path of each file repair renamed: it
// gets its CDXJ index, as the files finishFile completes do, read from
// the file since its records' lines died with the process.
func (w *Writer) repaired(path string) error {
	if !w.cfg.CDXJ {
		return nil
	}
	return IndexFile(path)
}

// scanRecords reads the records of f from its start, gzip member by gzip
// member if compressed, under strict validation, up to the first that is
// not whole and valid (cut short, a corrupt gzip member, trailing garbage)
// or the end. gowarc's reader gives each record's offset and size, gzip
// member included.
func scanRecords(f *os.File) (repairScan, error) {
	// Without its Close, which would close f (and drop its lock).
	r, err := gowarc.NewWarcFileReaderFromStream(struct{ io.Reader }{f}, 0, gowarc.WithStrictValidation())
	if err != nil {
		return repairScan{}, err
	}
	defer r.Close()
	var scan repairScan
	for {
		rec, err := r.Next()
		if rec.WarcRecord != nil {
			_ = rec.WarcRecord.Close()
		}
		if err == nil && len(rec.Validation) > 0 {
			err = errors.Join(rec.Validation...)
		}
		if err != nil {
			scan.stop = fmt.Errorf("record at %d: %w", scan.end, err)
			return scan, nil
		}
		scan.records++
		scan.end = rec.Offset + rec.Size
	}
}
