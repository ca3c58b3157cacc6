package warc

import (
	"strconv"
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
	// Via is the URL that led to the page: for a redirect's target, the
	// URL that redirected; else the page it was found on as a link; ""
	// for a seed, a URL found in a sitemap, or if unknown.
	Via string
	// FetchTime is how long the fetch took.
	FetchTime time.Duration
	// Outlinks are the links found on the page, absolute, in document
	// order.
	Outlinks []string
}

// metadataRecord builds ex's metadata record, concurrent to the response
// record resp.
func (w *Writer) metadataRecord(ex Exchange, id, date string, resp *record) *record {
	m := ex.Metadata
	size := len("fetchTimeMs: \r\n") + 20
	if m.Via != "" {
		size += len("via: \r\n") + len(m.Via)
	}
	for _, link := range m.Outlinks {
		size += len("outlink:  L a/@href\r\n") + len(link)
	}
	fields := make([]byte, 0, size)
	if m.Via != "" {
		fields = append(append(append(fields, "via: "...), m.Via...), "\r\n"...)
	}
	fields = strconv.AppendInt(append(fields, "fetchTimeMs: "...), m.FetchTime.Milliseconds(), 10)
	fields = append(fields, "\r\n"...)
	for _, link := range m.Outlinks {
		fields = append(append(append(fields, "outlink: "...), link...), " L a/@href\r\n"...)
	}
	rec := newRecord(gowarc.Metadata, id, ex.URL, date, gowarc.ApplicationWarcFields)
	rec.add(gowarc.WarcConcurrentTo, "<"+resp.id+">")
	rec.seal(nil, fields, false)
	return rec
}
