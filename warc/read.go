package warc

import (
	"errors"
	"fmt"
	"io"

	"github.com/nlnwa/gowarc/v3"
)

// Each reads the records of the WARC file at path in order, under gowarc's
// strict validation, and calls fn with each, its offset and size in the
// file (gzip member included) and what the validation found. It stops at fn's first error and returns it.
// A record is valid only during its call: it is closed after fn returns.
func Each(path string, fn func(rec gowarc.WarcRecord, offset, size int64, findings []error) error) error {
	r, err := gowarc.NewWarcFileReader(path, 0, gowarc.WithStrictValidation())
	if err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("warc: %s at %d: %w", path, rec.Offset, err)
		}
		err = fn(rec.WarcRecord, rec.Offset, rec.Size, rec.Validation)
		_ = rec.WarcRecord.Close()
		if err != nil {
			return err
		}
	}
}
