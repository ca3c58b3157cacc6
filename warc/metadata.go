package warc

import (
	"bytes"
	"fmt"
	"time"

	"github.com/nlnwa/gowarc/v3"
)

// Metadata is what crawld learnt of a page besides its exchange. It is
// written as a metadata record (WARC 1.1 §6.8) right after the page's
// response record, in the same file, concurrent to it, with the fields
// Heritrix writes in its own metadata records (WarcWriterProcessor), so
// that tools reading Heritrix's link graph read crawld's:
//
//	via: http://example.com/old
//	fetchTimeMs: 42
//	outlink: http://example.com/a L a/@href
//
// An outlink is "URL HOP CONTEXT": hop L (a navigation link), context
// a/@href (crawld takes the href of a and area elements).
type Metadata struct {
	// Via is the URL that led to the page (for a redirect's target, the
	// URL that redirected), "" if unknown.
	Via string
	// FetchTime is how long the fetch took.
	FetchTime time.Duration
	// Outlinks are the links found on the page, absolute, in document
	// order.
	Outlinks []string
}

// metadataRecords builds ex's metadata record, concurrent to the response
// record resp, or none when ex has no Metadata.
func (w *Writer) metadataRecords(ex Exchange, resp gowarc.WarcRecord) ([]gowarc.WarcRecord, error) {
	m := ex.Metadata
	if m == nil {
		return nil, nil
	}
	var fields bytes.Buffer
	if m.Via != "" {
		fmt.Fprintf(&fields, "via: %s\r\n", m.Via)
	}
	fmt.Fprintf(&fields, "fetchTimeMs: %d\r\n", m.FetchTime.Milliseconds())
	for _, link := range m.Outlinks {
		fmt.Fprintf(&fields, "outlink: %s L a/@href\r\n", link)
	}
	b := w.newBuilder(gowarc.Metadata)
	if _, err := b.Write(fields.Bytes()); err != nil {
		_ = b.Close()
		return nil, err
	}
	b.AddWarcHeader(gowarc.WarcBlockDigest, digest(fields.Bytes()))
	b.AddWarcHeader(gowarc.WarcTargetURI, ex.URL)
	b.AddWarcHeaderTime(gowarc.WarcDate, ex.Date)
	b.AddWarcHeader(gowarc.ContentType, gowarc.ApplicationWarcFields)
	rec, err := build(b, ex.URL)
	if err != nil {
		return nil, err
	}
	rec.WarcHeader().SetId(gowarc.WarcConcurrentTo, resp.RecordId())
	return []gowarc.WarcRecord{rec}, nil
}

// closeAll releases the buffers of records.
func closeAll(records []gowarc.WarcRecord) {
	for _, rec := range records {
		_ = rec.Close()
	}
}
