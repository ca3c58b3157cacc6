package warc

import (
	"bufio"
	"bytes"
	"errors"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/nlnwa/gowarc/v3"
)

// Records are built and encoded by the workers, in parallel, before the
// writer's lock is taken to append them to the file: only the append is
// serial.

// encoders encode records into bytes, each its own gzip member when
// compressed. Their gzip writers are kept for the next record: a new one
// allocates its tables, and there is one member per record. The free list
// is a bounded channel rather than a sync.Pool, which a garbage
// collection empties, and at high page rates collections are frequent.
type encoders struct {
	marshaler gowarc.Marshaler
	compress  bool
	free      chan *encoder
}

// encoder is a gzip writer with a buffer before it: gowarc's marshaler
// writes each header field on its own and copies the block with io.Copy,
// which a bufio.Writer serves from its own buffer. A record whose block
// is under storeBelow bytes (a request, a redirect, the metadata of a
// page with few links) is stored in its gzip member, not compressed: most
// of deflate's cost for it would be building its Huffman tables, to save
// a few hundred bytes.
type encoder struct {
	buf    *bufio.Writer
	gz     *gzip.Writer // compressing
	stored *gzip.Writer // storing
}

// storeBelow is the block size under which a record is stored rather
// than compressed.
const storeBelow = 1 << 10

func newEncoders(compress bool) encoders {
	return encoders{marshaler: gowarc.NewMarshaler(), compress: compress, free: make(chan *encoder, 2*runtime.GOMAXPROCS(0))}
}

// encode appends rec to out, as a gzip member if compressed.
func (e *encoders) encode(out *bytes.Buffer, rec gowarc.WarcRecord) error {
	var enc *encoder
	select {
	case enc = <-e.free:
	default:
		enc = &encoder{buf: bufio.NewWriterSize(nil, 4<<10)}
		if e.compress {
			// Valid levels: no error.
			enc.gz, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
			enc.stored, _ = gzip.NewWriterLevel(nil, gzip.NoCompression)
		}
	}
	defer func() {
		select {
		case e.free <- enc:
		default:
		}
	}()
	if !e.compress {
		enc.buf.Reset(out)
		_, _, err := e.marshaler.Marshal(enc.buf, rec, 0)
		return errors.Join(err, enc.buf.Flush())
	}
	gz := enc.gz
	if n, err := rec.WarcHeader().GetInt64(gowarc.ContentLength); err == nil && n < storeBelow {
		gz = enc.stored
	}
	gz.Reset(out)
	enc.buf.Reset(gz)
	_, _, err := e.marshaler.Marshal(enc.buf, rec, 0)
	if err == nil {
		err = enc.buf.Flush()
	}
	return errors.Join(err, gz.Close())
}
