package warc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"

	"github.com/klauspost/compress/gzip"
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
	compress bool
	free     chan *encoder
}

// encoder is a gzip writer and a buffer for the records' headers.
type encoder struct {
	header []byte
	gz     *gzip.Writer
}

// A record whose block is under storeBelow bytes (a request, a redirect,
// the metadata of a page with few links) is stored in its gzip member, not
// compressed: most of deflate's cost for it would be building its Huffman
// tables, to save a few hundred bytes.
const storeBelow = 1 << 10

func newEncoders(compress bool) encoders {
	return encoders{compress: compress, free: make(chan *encoder, 2*runtime.GOMAXPROCS(0))}
}

// encode appends rec to out, naming infoID (if not "") as its warcinfo
// record, as a gzip member if compressed.
func (e *encoders) encode(out *bytes.Buffer, rec *record, infoID string) error {
	var enc *encoder
	select {
	case enc = <-e.free:
	default:
		enc = &encoder{header: make([]byte, 0, 1<<10)}
		if e.compress {
			enc.gz, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
		}
	}
	defer func() {
		select {
		case e.free <- enc:
		default:
		}
	}()
	enc.header = rec.appendHeader(enc.header[:0], infoID)
	parts := [...][]byte{enc.header, rec.head, rec.payload, []byte(recordEnd)}
	switch {
	case !e.compress:
		out.Grow(len(enc.header) + rec.blockSize() + len(recordEnd))
		for _, part := range parts {
			out.Write(part)
		}
		return nil
	case rec.blockSize() < storeBelow:
		storeMember(out, parts[:]...)
		return nil
	}
	enc.gz.Reset(out)
	var err error
	for _, part := range parts {
		if err == nil && len(part) > 0 {
			_, err = enc.gz.Write(part)
		}
	}
	return errors.Join(err, enc.gz.Close())
}

// storeMember appends parts, one after another, to out as one gzip member
// (RFC 1952) of deflate's stored blocks (RFC 1951 §3.2.4), which hold
// data as it is: what compress/gzip writes at NoCompression, without its
// compressor's state to reset and buffers to go through.
func storeMember(out *bytes.Buffer, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	const maxBlock = 1<<16 - 1
	blocks := max(1, (n+maxBlock-1)/maxBlock)
	out.Grow(len(gzipHeader) + 5*blocks + n + 8)
	out.Write(gzipHeader[:])
	var crc uint32
	left, part := n, 0
	for b := range blocks {
		size := min(left, maxBlock)
		left -= size
		final := byte(0)
		if b == blocks-1 {
			final = 1 // BFINAL, and BTYPE 00: stored
		}
		out.Write([]byte{final, byte(size), byte(size >> 8), ^byte(size), ^byte(size >> 8)})
		for size > 0 {
			for len(parts[part]) == 0 {
				part++
			}
			chunk := parts[part][:min(size, len(parts[part]))]
			out.Write(chunk)
			crc = crc32.Update(crc, crc32.IEEETable, chunk)
			parts[part] = parts[part][len(chunk):]
			size -= len(chunk)
		}
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(n))
	out.Write(trailer[:])
}

// gzipHeader starts a gzip member: deflate, no flags, no modification
// time, no extra flags, an unknown operating system (as compress/gzip
// writes it).
var gzipHeader = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
