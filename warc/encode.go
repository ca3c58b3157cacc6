package warc

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"runtime"

	"github.com/google/uuid"
	"github.com/klauspost/compress/gzip"
	"github.com/nlnwa/gowarc/v3"
)

// Records are built and encoded by the workers, in parallel, before the
// writer's lock is taken to append them to the file: only the append is
// serial. Building skips gowarc's validation (which parses every header
// field and the target URI again, a third of the cost of archiving a
// page): crawld sets each field itself, digests included, and the tests
// read every record back under strict validation.

// recordOptions make records with SHA-1 digests in base32, record ids from
// crypto/rand, and their length.
func recordOptions() []gowarc.WarcRecordOption {
	return []gowarc.WarcRecordOption{
		gowarc.WithNoValidation(),
		gowarc.WithDefaultDigestAlgorithm("sha1"),
		gowarc.WithDefaultDigestEncoding(gowarc.Base32),
		gowarc.WithAddMissingRecordId(true),
		gowarc.WithRecordIdFunc(recordID),
		gowarc.WithAddMissingContentLength(true),
	}
}

// recordID is a random (version 4) UUID as a URN. gowarc's own generator
// reads a flag of the uuid package that every record builder writes, a
// data race between concurrent builders; this one reads crypto/rand.
func recordID() (string, error) {
	id, err := uuid.NewRandomFromReader(rand.Reader)
	if err != nil {
		return "", err
	}
	return id.URN(), nil
}

// newBuilder returns a record builder of type t. gowarc writes a package
// variable whenever it makes one (uuid.EnableRandPool), hence the lock:
// the writers of a process must not make two at once.
func (w *Writer) newBuilder(t gowarc.RecordType) gowarc.WarcRecordBuilder {
	w.builders.Lock()
	defer w.builders.Unlock()
	return gowarc.NewRecordBuilder(t, w.recordOpts...)
}

// digest is data's SHA-1 in the form WARC and CDXJ write it.
func digest(data ...[]byte) string {
	h := sha1.New()
	for _, d := range data {
		h.Write(d)
	}
	return "sha1:" + base32.StdEncoding.EncodeToString(h.Sum(nil))
}

// setDigests names the block's and the payload's digests, which gowarc
// does not compute without parsing the block.
func setDigests(b gowarc.WarcRecordBuilder, head, payload []byte) {
	b.AddWarcHeader(gowarc.WarcBlockDigest, digest(head, payload))
	b.AddWarcHeader(gowarc.WarcPayloadDigest, digest(payload))
}

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

// withHead returns rec, whose block was not parsed when it was built,
// with the HTTP head it starts with, as a parsed block gives it
// (gowarc.ProtocolHeaderBlock), and the status and media type in it,
// which the index takes without parsing the head again.
func withHead(rec gowarc.WarcRecord, head []byte, status int, contentType string) gowarc.WarcRecord {
	return headed{WarcRecord: rec, head: head, status: status, mime: mediaType(contentType)}
}

type headed struct {
	gowarc.WarcRecord
	head   []byte
	status int
	mime   string
}

func (h headed) Block() gowarc.Block { return headedBlock{Block: h.WarcRecord.Block(), head: h.head} }

type headedBlock struct {
	gowarc.Block
	head []byte
}

func (b headedBlock) ProtocolHeaderBytes() []byte { return b.head }
