package warc

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nlnwa/gowarc/v3"
)

// record is a WARC record as crawld writes it: its header fields, named
// as gowarc names them, and a block held in memory (an HTTP head and a
// payload), which encode writes as WARC/1.1. crawld writes its records
// itself and gowarc reads them (the tests read every record back under
// gowarc's strict validation): gowarc's record builder copied every block
// into a buffer of its own and, like its WarcFields, normalised each
// field name as it was set (a lower-case copy and a map lookup), which
// made up half of what archiving a page cost on the throughput benchmark
// and most of its allocations. The fields crawld writes are fixed, their
// names already canonical. A record is used through its pointer only:
// its fields may live in its own fieldsArray.
type record struct {
	typ gowarc.RecordType
	// id is the WARC-Record-ID, "urn:uuid:…" without angle brackets.
	id string
	// uri and date are the WARC-Target-URI ("" for none) and WARC-Date,
	// as written.
	uri, date   string
	contentType string
	// fields are the fields but WARC-Type, WARC-Record-ID, WARC-Date,
	// WARC-Target-URI, Content-Type, the digests and Content-Length,
	// which encode writes from the record's other members; in
	// fieldsArray while they fit, as most records' do.
	fields      []field
	fieldsArray [4]field
	// head is an HTTP message's head (nil for a block of another kind);
	// payload is the rest of the block.
	head, payload []byte
	// blockDigest and payloadDigest are the block's and the payload's
	// digests; payloadDigest is "" for a record without one.
	blockDigest, payloadDigest string
	// status and mime are the HTTP status and media type of a response's
	// head (or its revisit's), which the index takes; 0 and "" otherwise.
	status int
	mime   string
}

// field is a WARC header field.
type field struct{ name, value string }

// newRecord returns the record of type t with the given id, its date (as
// formatDate writes it) and target URI (none if uri is ""), of
// contentType.
func newRecord(t gowarc.RecordType, id, uri, date, contentType string) *record {
	r := &record{typ: t, id: id, uri: uri, date: date, contentType: contentType}
	r.fields = r.fieldsArray[:0]
	return r
}

// formatDate is t as a WARC-Date: UTC, to the nanosecond when it has them
// (WARC 1.1 §5.4 allows fractions of a second).
func formatDate(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// recordIDs fills ids with random (version 4) UUIDs as URNs, from one
// read of the system's random source for all of them.
func recordIDs(ids []string) error {
	raw := make([]byte, 16*len(ids))
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("warc: record id: %w", err)
	}
	for i := range ids {
		var u uuid.UUID
		copy(u[:], raw[16*i:])
		u[6] = u[6]&0x0f | 0x40 // version 4 (RFC 9562 §5.4)
		u[8] = u[8]&0x3f | 0x80 // the variant of RFC 9562
		ids[i] = u.URN()
	}
	return nil
}

// add adds the field name: value.
func (r *record) add(name, value string) {
	r.fields = append(r.fields, field{name, value})
}

// emptyDigest is the digest of no bytes: a request's payload.
var emptyDigest = digest()

// seal makes head and payload the record's block (head is an HTTP
// message's head, nil for a block of another kind), and computes its
// digests: the block's, and, if withPayload, the payload's.
func (r *record) seal(head, payload []byte, withPayload bool) {
	r.head, r.payload = head, payload
	r.blockDigest = digest(head, payload)
	if withPayload {
		r.payloadDigest = emptyDigest
		if len(payload) > 0 {
			r.payloadDigest = digest(payload)
		}
	}
}

// blockSize is the length of the record's block.
func (r *record) blockSize() int { return len(r.head) + len(r.payload) }

// appendHeader appends the record's WARC header, up to and including the
// empty line that ends it, naming infoID, if not "", as its warcinfo
// record.
func (r *record) appendHeader(b []byte, infoID string) []byte {
	b = append(b, "WARC/1.1\r\n"...)
	b = appendField(b, gowarc.WarcType, r.typ.String())
	b = appendIDField(b, gowarc.WarcRecordID, r.id)
	b = appendField(b, gowarc.WarcDate, r.date)
	if r.uri != "" {
		b = appendField(b, gowarc.WarcTargetURI, r.uri)
	}
	if infoID != "" {
		b = appendIDField(b, gowarc.WarcWarcinfoID, infoID)
	}
	for _, f := range r.fields {
		b = appendField(b, f.name, f.value)
	}
	b = appendField(b, gowarc.ContentType, r.contentType)
	b = appendField(b, gowarc.WarcBlockDigest, r.blockDigest)
	if r.payloadDigest != "" {
		b = appendField(b, gowarc.WarcPayloadDigest, r.payloadDigest)
	}
	b = strconv.AppendInt(append(b, gowarc.ContentLength+": "...), int64(r.blockSize()), 10)
	return append(b, "\r\n\r\n"...)
}

// recordEnd ends every record, after its block.
const recordEnd = "\r\n\r\n"

func appendField(b []byte, name, value string) []byte {
	b = append(append(append(b, name...), ": "...), value...)
	return append(b, "\r\n"...)
}

// appendIDField appends a field whose value is a record id, between angle
// brackets.
func appendIDField(b []byte, name, id string) []byte {
	b = append(append(append(b, name...), ": <"...), id...)
	return append(b, ">\r\n"...)
}

// digest is data's SHA-1 in the form WARC and CDXJ write it.
func digest(data ...[]byte) string {
	h := sha1.New()
	for _, d := range data {
		h.Write(d)
	}
	var sum [sha1.Size]byte
	var out [len("sha1:") + 32]byte
	copy(out[:], "sha1:")
	base32.StdEncoding.Encode(out[len("sha1:"):], h.Sum(sum[:0]))
	return string(out[:])
}
