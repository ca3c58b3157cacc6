// Package sitemap parses sitemaps.org sitemaps and sitemap index files,
// XML or plain text, optionally gzip-compressed, into the page URLs and
// child sitemap URLs they list. It does no I/O beyond reading the body it
// is given: the crawler fetches sitemaps itself, politely, and decides which
// of the returned URLs to follow. Input is untrusted, so every read is
// bounded by a byte limit and a URL count, and the XML decoder's memory by
// a nesting depth, a token size and an attribute count (see Parse).
package sitemap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxSize is the largest sitemap accepted, decompressed (sitemaps.org: 50 MB
// uncompressed, 50,000 URLs). It is also the limit Parse uses when given none.
const MaxSize = 50 << 20

// MaxURLs is the most <loc> entries read from one document.
const MaxURLs = 50_000

// Document is what one sitemap file lists. URLs are returned as written in
// the document (entities decoded, surrounding whitespace trimmed, never
// empty); they are neither resolved nor validated.
type Document struct {
	URLs     []string // <urlset><url><loc>: pages, in document order
	Sitemaps []string // <sitemapindex><sitemap><loc>: child sitemaps, in document order
}

// ErrTooLarge is wrapped by the error Parse returns when a document exceeds
// its byte limit; the Document returned with it holds the entries read
// before the limit.
var ErrTooLarge = errors.New("sitemap: document too large")

// ErrTooManyURLs is wrapped by the error Parse returns when a document has
// more than MaxURLs entries; the Document returned with it holds the first
// MaxURLs.
var ErrTooManyURLs = errors.New("sitemap: too many URLs")

// ErrTooDeep is wrapped by the error Parse returns when a document nests
// elements more than MaxDepth deep; the Document returned with it holds the
// entries read before.
var ErrTooDeep = errors.New("sitemap: elements nested too deep")

// MaxDepth is how deep elements may nest. A sitemap needs three levels
// (urlset, url, loc) and its extensions four (url, news:news,
// news:publication, news:name); the rest is slack. The bound matters
// because an XML decoder keeps every open element, with its namespace
// declarations, on a stack: a few KB of gzip could otherwise open millions.
const MaxDepth = 16

// maxToken bounds the bytes of one XML token (a tag with its attributes, a
// run of text, a comment) that are not white space. A start tag is decoded
// into its attributes at once, at some twenty times the bytes it takes, so
// a single tag must not be allowed the whole document. Nothing in a sitemap
// comes near: a URL has at most 2,048 characters. White space is not
// counted, since the decoder keeps none of it beyond one text token, which
// the document's limit already bounds.
const maxToken = 64 << 10

// maxAttrs bounds the attributes of one element: its namespace
// declarations stay on the decoder's stack until the element ends. A
// urlset declares about ten.
const maxAttrs = 256

// bufSize is large enough that the bufio layers rarely refill, and it also
// bounds the longest line a plain-text sitemap may have.
const bufSize = 64 << 10

// Parse reads one sitemap or sitemap index from r. A gzip-compressed body
// (detected by its magic bytes 1f 8b, whatever the Content-Type says) is
// decompressed first. At most limit bytes of decompressed XML are read
// (limit <= 0 or > MaxSize means MaxSize); a document larger than that is an
// error wrapping ErrTooLarge, but the URLs read before the limit are still
// returned with it, so a caller may use them. More than MaxURLs entries: the
// first MaxURLs are returned with an error wrapping ErrTooManyURLs.
//
// A body whose first significant byte (after a UTF-8 BOM and whitespace) is
// not "<" is read as a plain-text sitemap: each trimmed line starting with
// http:// or https:// is a URL, other lines are ignored. Any other error
// (malformed XML, a root element other than urlset or sitemapindex, an
// unsupported encoding, corrupt gzip) is returned with the entries read
// before it, and so is a document the parser will not decode in bounded
// memory: elements nested more than MaxDepth deep (an error wrapping
// ErrTooDeep), a token (tag, text or comment) of more than 64 KiB, an
// element with more than 256 attributes. A <loc> longer than 64 KiB is
// skipped. Anything after the root element's end tag is ignored.
func Parse(r io.Reader, limit int64) (Document, error) {
	if limit <= 0 || limit > MaxSize {
		limit = MaxSize
	}
	raw := bufio.NewReaderSize(r, bufSize)
	var src io.Reader = raw
	var zin *limitReader
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		// Deflate never expands data by more than a few bytes per 64 KiB
		// block, so a compressed body much larger than the limit can only
		// be padding meant to keep us reading; bound it too.
		zin = &limitReader{r: raw, n: limit + limit/1024 + 4096}
		zr, err := gzip.NewReader(zin)
		if err != nil {
			return Document{}, fmt.Errorf("sitemap: %w", err)
		}
		src = zr
	}
	in := &limitReader{r: src, n: limit}
	br := bufio.NewReaderSize(in, bufSize)

	var doc Document
	var err error
	if isXML(br) {
		doc, err = parseXML(br)
	} else {
		doc, err = parseText(br)
	}
	switch {
	case err == nil, errors.Is(err, ErrTooManyURLs):
		return doc, err
	case in.over || (zin != nil && zin.over):
		// Whatever error the truncation surfaced as, the real cause is size.
		return doc, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, limit)
	case strings.HasPrefix(err.Error(), "sitemap: "):
		return doc, err
	}
	return doc, fmt.Errorf("sitemap: %w", err)
}

// isXML consumes a UTF-8 BOM and leading whitespace, which both parsers would
// otherwise have to tolerate, and reports whether the body looks like XML.
func isXML(br *bufio.Reader) bool {
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xef, 0xbb, 0xbf}) {
		br.Discard(3)
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		br.UnreadByte()
		return c == '<'
	}
}

// parseXML walks the token stream keeping only a depth counter, so memory is
// proportional to the URLs found, not to the document: the decoder's own
// state is bounded by MaxDepth, maxToken and maxAttrs.
func parseXML(br *bufio.Reader) (Document, error) {
	var doc Document
	var charsetErr error
	in := &tokenReader{r: br, left: maxToken}
	d := xml.NewDecoder(in)
	d.Strict = false // real-world sitemaps have bare "&" in query strings
	d.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		r, err := charsetReader(label, in.r)
		charsetErr = err
		if err != nil {
			return nil, err
		}
		// The decoder goes on reading what is returned: keep counting
		// the bytes it takes, now decoded.
		if r != io.Reader(in.r) {
			in.r = bufio.NewReader(r)
		}
		return in, nil
	}

	var (
		dst     *[]string // doc.URLs or doc.Sitemaps, chosen by the root
		entry   string    // "url" or "sitemap", the element holding a loc
		depth   int
		inEntry bool // inside a depth-2 entry element
		inLoc   bool // inside a depth-3 loc directly under an entry
		loc     []byte
		n       int
	)
	for {
		tok, err := d.Token()
		in.left = maxToken
		if err != nil {
			switch {
			case charsetErr != nil:
				return doc, charsetErr
			case err == io.EOF:
				return doc, errors.New("sitemap: no root element")
			}
			return doc, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > MaxDepth {
				return doc, fmt.Errorf("%w (more than %d)", ErrTooDeep, MaxDepth)
			}
			if len(t.Attr) > maxAttrs {
				return doc, fmt.Errorf("sitemap: <%s> has more than %d attributes", t.Name.Local, maxAttrs)
			}
			switch depth {
			case 1:
				switch t.Name.Local {
				case "urlset":
					dst, entry = &doc.URLs, "url"
				case "sitemapindex":
					dst, entry = &doc.Sitemaps, "sitemap"
				default:
					return doc, fmt.Errorf("sitemap: not a sitemap (root <%s>)", t.Name.Local)
				}
			case 2:
				inEntry = t.Name.Local == entry
			case 3:
				inLoc = inEntry && t.Name.Local == "loc"
				loc = loc[:0]
			}
		case xml.CharData:
			// Depth 3 only: text of elements nested in a loc is not the URL.
			if inLoc && depth == 3 && len(loc) <= maxToken {
				loc = append(loc, t...)
			}
		case xml.EndElement:
			if inLoc && depth == 3 {
				inLoc = false
				if u := bytes.TrimSpace(loc); len(u) > 0 && len(u) <= maxToken {
					if n == MaxURLs {
						return doc, fmt.Errorf("%w (more than %d)", ErrTooManyURLs, MaxURLs)
					}
					*dst = append(*dst, string(u))
					n++
				}
			}
			depth--
			if depth == 0 {
				// Trailing bytes are not ours to judge, and reading them
				// could only turn a complete document into a size error.
				return doc, nil
			}
		}
	}
}

// parseText reads a plain-text sitemap. Lines longer than bufSize cannot be
// URLs a crawler wants (sitemaps.org allows 2,048 characters) and are skipped.
func parseText(br *bufio.Reader) (Document, error) {
	var doc Document
	for {
		line, err := br.ReadSlice('\n')
		long := false
		for err == bufio.ErrBufferFull {
			long = true
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			// The pending line may be cut short by the error: drop it.
			return doc, err
		}
		if u := bytes.TrimSpace(line); !long && isHTTP(u) {
			if len(doc.URLs) == MaxURLs {
				return doc, fmt.Errorf("%w (more than %d)", ErrTooManyURLs, MaxURLs)
			}
			doc.URLs = append(doc.URLs, string(u))
		}
		if err == io.EOF {
			return doc, nil
		}
	}
}

func isHTTP(u []byte) bool {
	return hasPrefixFold(u, "http://") || hasPrefixFold(u, "https://")
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// charsetReader accepts only encodings whose decoding needs no tables:
// ASCII-compatible UTF-8 as is, and ISO-8859-1, whose bytes are code points.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("sitemap: unsupported encoding %s", label)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r       io.Reader
	buf     []byte
	pending byte // second byte of a 2-byte rune that did not fit in p
	hasPend bool
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	out := p[:0]
	if l.hasPend {
		out = append(out, l.pending)
		l.hasPend = false
	}
	// Each input byte may become two output bytes; read at most what fits
	// in the worst case, but at least one byte so progress is made.
	want := (len(p) - len(out)) / 2
	if want == 0 {
		if len(out) > 0 {
			return len(out), nil
		}
		want = 1
	}
	if cap(l.buf) < want {
		l.buf = make([]byte, want)
	}
	m, err := l.r.Read(l.buf[:want])
	for _, c := range l.buf[:m] {
		if c < utf8.RuneSelf {
			out = append(out, c)
			continue
		}
		var enc [2]byte
		utf8.EncodeRune(enc[:], rune(c))
		if len(out)+2 <= len(p) {
			out = append(out, enc[0], enc[1])
		} else {
			// Only possible when p has room for a single byte.
			out = append(out, enc[0])
			l.pending, l.hasPend = enc[1], true
		}
	}
	return len(out), err
}

// tokenReader hands the XML decoder its bytes one at a time (the decoder
// takes an io.ByteReader as it is, without reading ahead), so that it can
// stop a token that goes on too long: the parser resets left after each
// token, and no token may take more than maxToken bytes that are not white
// space.
type tokenReader struct {
	r    *bufio.Reader
	left int
}

// errTokenTooLarge is what tokenReader returns once a token has used up its
// bytes; the decoder passes it on as Token's error.
var errTokenTooLarge = fmt.Errorf("sitemap: XML token longer than %d bytes", maxToken)

func (t *tokenReader) ReadByte() (byte, error) {
	c, err := t.r.ReadByte()
	if err == nil && !isSpace(c) {
		if t.left == 0 {
			return 0, errTokenTooLarge
		}
		t.left--
	}
	return c, err
}

// Read is there because the decoder asks for an io.Reader; it reads
// through ReadByte, which is all the decoder calls.
func (t *tokenReader) Read(p []byte) (int, error) {
	for i := range p {
		c, err := t.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

// isSpace reports whether c is XML white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// limitReader passes through at most n bytes and then, unlike
// io.LimitReader, tells a document that ends exactly at the limit from one
// that goes on, by probing for one more byte.
type limitReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, ErrTooLarge
	}
	if l.n <= 0 {
		var probe [1]byte
		m, err := l.r.Read(probe[:])
		if m > 0 {
			l.over = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	m, err := l.r.Read(p)
	l.n -= int64(m)
	return m, err
}
