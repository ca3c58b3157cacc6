package warc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nlnwa/gowarc/v3"
)

// The reasons a payload was cut short, as WARC-Truncated names them
// (Exchange.Truncated).
const (
	TruncatedLength     = "length"     // at a size limit
	TruncatedTime       = "time"       // at a time limit
	TruncatedDisconnect = "disconnect" // by a failed connection
)

// The revisit kinds, as records name them (Location.Revisit): the last
// part of their WARC 1.1 profile URI (§6.7.2, §6.7.3).
const (
	// RevisitIdentical is a payload already archived in the crawl (any
	// URL): the record holds the HTTP headers only.
	RevisitIdentical = "identical-payload-digest"
	// RevisitNotModified is a 304 answering a conditional request for a
	// URL whose earlier capture is archived.
	RevisitNotModified = "server-not-modified"
)

// Capture is an archived response record that holds a payload: what a
// revisit refers to.
type Capture struct {
	URI      string    // its WARC-Target-URI
	Date     time.Time // its WARC-Date
	RecordID string    // its WARC-Record-ID, "urn:uuid:…" without the angle brackets; "" if unknown
	Digest   string    // its WARC-Payload-Digest, "sha1:" and base32; "" if unknown
}

// Digests is the index of the payloads archived in a crawl, by payload
// digest, that turns a payload archived again into a revisit. The Writer
// uses one when deduplicating (Config.Dedupe); NewMemoryDigests is the
// default, and a frontier that outlives the process or is shared by
// several nodes offers its own (store, redisq), so that deduplication
// spans restarts and nodes.
type Digests interface {
	// Claim names c the capture of the payload whose digest is c.Digest,
	// unless a capture was named before, in one atomic step however many
	// writers race, on however many nodes: the first wins. found reports
	// that one was: orig is that capture, and c was not recorded. An index
	// that cannot hold more may record nothing and report found false.
	Claim(ctx context.Context, c Capture) (orig Capture, found bool, err error)
	// Unclaim removes the claim Claim recorded for c, if c is still the
	// capture of its payload: its record could not be written.
	Unclaim(ctx context.Context, c Capture) error
}

// revisit is how WriteExchange writes an exchange's response: in full
// (kind "") or as a revisit of another capture.
type revisit struct {
	kind    string  // "", RevisitIdentical or RevisitNotModified
	of      Capture // the capture a revisit refers to
	self    Capture // the response record as a capture, when kind is ""
	claimed bool    // self is the capture of its payload in the index
	// writing is the registration of self as an original this writer is
	// writing (see ordering.go), ended once it is written; nil if none.
	writing *originalWrite
}

// revisitOf decides how ex's response record resp is written: as a
// revisit when the Writer deduplicates and ex answers a conditional
// request with a 304 for a URL archived before (ex.Previous), or its
// payload is one archived before, by any URL; else in full, a payload
// seen for the first time being claimed in the index first. An empty
// payload is not indexed (a revisit would save nothing), nor is a
// truncated one, whose digest is not the resource's.
func (w *Writer) revisitOf(ctx context.Context, ex Exchange, resp *record) (revisit, error) {
	rv := revisit{self: Capture{URI: ex.URL, Date: ex.Date, RecordID: resp.id, Digest: resp.payloadDigest}}
	if !w.cfg.Dedupe {
		return rv, nil
	}
	if ex.Status == http.StatusNotModified {
		if ex.Previous.URI != "" {
			rv.kind, rv.of = RevisitNotModified, ex.Previous
		}
		// Else nothing is known to be archived for the URL (the archive
		// was off when it was fetched): the 304 is all there is of it,
		// kept as a plain response.
		return rv, nil
	}
	if len(ex.Body) == 0 || ex.Truncated != "" {
		return rv, nil
	}
	mine := w.beginOriginal(rv.self.Digest)
	orig, found, err := w.cfg.Digests.Claim(ctx, rv.self)
	switch {
	case err != nil:
		w.endOriginal(rv.self.Digest, mine, true)
		return rv, fmt.Errorf("warc: digest index: %w", err)
	case found:
		w.endOriginal(rv.self.Digest, mine, false)
		rv.kind, rv.of = RevisitIdentical, orig
	default:
		rv.claimed, rv.writing = true, mine
	}
	return rv, nil
}

// unclaim gives up rv's claim, its record not written, so that the next
// capture of the payload is stored in full rather than referring to
// nothing. The claim outlives a failure to give it up, which a crash
// between Claim and the write also leaves: a revisit may then refer to a
// capture that is not in the archive.
func (w *Writer) unclaim(ctx context.Context, rv revisit) error {
	if !rv.claimed {
		return nil
	}
	if err := w.cfg.Digests.Unclaim(context.WithoutCancel(ctx), rv.self); err != nil {
		return fmt.Errorf("warc: digest index: %w", err)
	}
	return nil
}

// revisitRecord returns the record rv says to write for resp, the
// exchange's response record (as responseRecord makes it): resp itself,
// or a revisit made from it. A revisit keeps the response's fields but
// its type, id, length and digests, and its block is the HTTP head alone
// (WARC 1.1 §6.7.2: the headers as the response has them, WARC-Truncated:
// length; §6.7.3: the 304's headers, the payload digest the original's).
func (w *Writer) revisitRecord(rv revisit, resp *record) *record {
	if rv.kind == "" {
		return resp
	}
	r := newRecord(gowarc.Revisit, resp.id, resp.uri, resp.date, resp.contentType)
	r.status, r.mime = resp.status, resp.mime
	for _, f := range resp.fields {
		if f.name != gowarc.WarcTruncated {
			r.fields = append(r.fields, f)
		}
	}
	profile, payloadDigest := gowarc.ProfileIdenticalPayloadDigestV1_1, resp.payloadDigest
	if rv.kind == RevisitNotModified {
		// A 304 has no payload to leave out; the payload it stands for is
		// the original's.
		profile, payloadDigest = gowarc.ProfileServerNotModifiedV1_1, rv.of.Digest
	} else {
		r.add(gowarc.WarcTruncated, TruncatedLength)
	}
	r.add(gowarc.WarcProfile, profile)
	if rv.of.RecordID != "" {
		r.add(gowarc.WarcRefersTo, "<"+rv.of.RecordID+">")
	}
	r.add(gowarc.WarcRefersToTargetURI, rv.of.URI)
	r.add(gowarc.WarcRefersToDate, formatDate(rv.of.Date))
	r.seal(resp.head, nil, false)
	r.payloadDigest = payloadDigest
	return r
}

// original is the capture holding the payload of the record rv wrote.
func (rv revisit) original() Capture {
	if rv.kind != "" {
		return rv.of
	}
	return rv.self
}
