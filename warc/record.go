package warc

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nlnwa/gowarc/v3"
)

// record is a WARC record as crawld writes it: gowarc's header fields and
// a block held in memory, which gowarc's marshaler writes. It stands in
// for the records gowarc's record builder makes, which cost half of what
// archiving a page did (measured on the throughput benchmark): the builder
// copies every block into a buffer of its own (16 KiB at least, zeroed),
// makes its options anew for each record, and must be made under a lock
// (it writes a variable of the uuid package). crawld sets every field
// itself, digests included, and the tests read every record back under
// gowarc's strict validation.
type record struct {
	typ    gowarc.RecordType
	fields gowarc.WarcFields
	block  memBlock
	// status and mime are the HTTP status and media type of a response's
	// head (or its revisit's), which the index takes; 0 and "" otherwise.
	status int
	mime   string
}

var _ gowarc.WarcRecord = (*record)(nil)

// newRecord returns a record of type t, with an id, its date and the
// target URI (none if url is ""), of contentType.
func newRecord(t gowarc.RecordType, url string, date time.Time, contentType string) (*record, error) {
	id, err := recordID()
	if err != nil {
		return nil, fmt.Errorf("warc: record id: %w", err)
	}
	r := &record{typ: t}
	r.fields.Add(gowarc.WarcType, t.String())
	r.fields.SetId(gowarc.WarcRecordID, id)
	r.fields.Add(gowarc.WarcDate, date.UTC().Format(time.RFC3339Nano))
	if url != "" {
		r.fields.Add(gowarc.WarcTargetURI, url)
	}
	r.fields.Add(gowarc.ContentType, contentType)
	return r, nil
}

// recordID is a random (version 4) UUID as a URN.
func recordID() (string, error) {
	id, err := uuid.NewRandomFromReader(rand.Reader)
	if err != nil {
		return "", err
	}
	return id.URN(), nil
}

// seal makes head and payload the record's block (head is an HTTP
// message's head, nil for a block of another kind), and names its length
// and digests: the block's, and, if withPayload, the payload's.
func (r *record) seal(head, payload []byte, withPayload bool) {
	r.block = memBlock{head: head, payload: payload, digest: digest(head, payload)}
	r.fields.Add(gowarc.WarcBlockDigest, r.block.digest)
	if withPayload {
		r.fields.Add(gowarc.WarcPayloadDigest, digest(payload))
	}
	r.fields.Add(gowarc.ContentLength, strconv.Itoa(len(head)+len(payload)))
}

// digest is data's SHA-1 in the form WARC and CDXJ write it.
func digest(data ...[]byte) string {
	h := sha1.New()
	for _, d := range data {
		h.Write(d)
	}
	return "sha1:" + base32.StdEncoding.EncodeToString(h.Sum(nil))
}

// errNotSupported is what the record answers for what crawld's writer
// never asks of its records.
var errNotSupported = errors.New("warc: not supported by crawld's records")

func (r *record) Version() *gowarc.WarcVersion   { return gowarc.V1_1 }
func (r *record) Type() gowarc.RecordType        { return r.typ }
func (r *record) WarcHeader() *gowarc.WarcFields { return &r.fields }
func (r *record) Block() gowarc.Block            { return &r.block }
func (r *record) RecordId() string               { return r.fields.GetId(gowarc.WarcRecordID) }
func (r *record) ContentLength() (int64, error)  { return r.fields.GetInt64(gowarc.ContentLength) }
func (r *record) Date() (time.Time, error)       { return r.fields.GetTime(gowarc.WarcDate) }
func (r *record) Close() error                   { return nil }
func (r *record) String() string {
	return fmt.Sprintf("WARC record: version: %s, type: %s, id: %s", r.Version(), r.typ, r.RecordId())
}
func (r *record) ToRevisitRecord(*gowarc.RevisitRef) (gowarc.WarcRecord, error) {
	return nil, errNotSupported
}
func (r *record) RevisitRef() (*gowarc.RevisitRef, error)               { return nil, errNotSupported }
func (r *record) CreateRevisitRef(string) (*gowarc.RevisitRef, error)   { return nil, errNotSupported }
func (r *record) Merge(...gowarc.WarcRecord) (gowarc.WarcRecord, error) { return nil, errNotSupported }

// ValidateDigest finds nothing: the digests were computed from the block.
func (r *record) ValidateDigest() ([]error, error) { return nil, nil }

// memBlock is a record's block in memory: an HTTP head, if any, and the
// rest.
type memBlock struct {
	head, payload []byte
	digest        string
}

var (
	_ gowarc.Block               = (*memBlock)(nil)
	_ gowarc.ProtocolHeaderBlock = (*memBlock)(nil)
)

func (b *memBlock) RawBytes() (io.Reader, error) {
	return &blockReader{parts: [2][]byte{b.head, b.payload}}, nil
}
func (b *memBlock) BlockDigest() string         { return b.digest }
func (b *memBlock) Size() int64                 { return int64(len(b.head) + len(b.payload)) }
func (b *memBlock) IsCached() bool              { return true }
func (b *memBlock) Cache() error                { return nil }
func (b *memBlock) Close() error                { return nil }
func (b *memBlock) ProtocolHeaderBytes() []byte { return b.head }

// blockReader reads a block's head and payload in turn, and writes them
// straight to a writer (io.Copy uses WriteTo) without the 32 KiB buffer
// io.MultiReader's WriteTo allocates for each call.
type blockReader struct {
	parts [2][]byte
}

func (r *blockReader) Read(p []byte) (int, error) {
	for i := range r.parts {
		if len(r.parts[i]) > 0 {
			n := copy(p, r.parts[i])
			r.parts[i] = r.parts[i][n:]
			return n, nil
		}
	}
	return 0, io.EOF
}

func (r *blockReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for i := range r.parts {
		n, err := w.Write(r.parts[i])
		total += int64(n)
		r.parts[i] = r.parts[i][n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
