package crawler

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
)

// htmlType reports whether a response is an HTML document worth parsing: by
// its declared media type (or the sniffed one when the server declared none),
// and only if the body does not sniff as binary, whatever its label says.
func htmlType(contentType string, body []byte) bool {
	sniffed := http.DetectContentType(body)
	if contentType == "" {
		contentType = sniffed
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "text/html" && mediaType != "application/xhtml+xml" {
		return false
	}
	return strings.HasPrefix(sniffed, "text/") || strings.HasPrefix(sniffed, "application/xml") ||
		strings.HasPrefix(sniffed, "application/xhtml")
}

// page is what a crawler takes from an HTML document.
type page struct {
	links     []*url.URL // distinct link targets, in document order
	noindex   bool       // a robots meta tag asks that the page not be indexed
	nofollow  bool       // a robots meta tag asks that its links not be followed
	truncated bool       // links beyond the cap were left out
}

// parsePage returns the distinct absolute URLs that a[href] and area[href]
// point to, in document order, and the page's robots meta directives for
// agent (the crawler's product token). The body is decoded to UTF-8 by its
// declared or sniffed charset first, so non-ASCII targets come out correctly
// percent-encoded; links resolve against the first <base href> when the page
// has one, wherever it stands. Links marked rel="nofollow" are left out
// unless followNofollow is set.
//
// At most maxLinks links are taken (0: no cap), so a page of a million
// anchors cannot flood the frontier.
//
// The page is read in one pass of the HTML tokenizer (a page with a <base>
// is first read up to it) and never built into a tree: a tree costs about
// 40 times the body (a 4 MiB page of <p> took 159 MiB) and gives up past
// 512 nested elements; the pass costs its
// tokenizer's buffer, which holds one token of at most maxToken, and the
// links it takes. It finds what a[href], area[href], base[href] and
// meta[name][content] found in the tree (links_dom_test.go keeps that
// tree-based reference and says where the two part), but for the
// attributes of a tag longer than maxToken.
func parsePage(pageURL *url.URL, contentType string, body []byte, agent string, followNofollow bool, maxLinks int) (page, error) {
	return scanPage(pageURL, contentType, body, agent, followNofollow, maxLinks, maxToken)
}

// maxToken is the longest token (a tag, a text, a comment, a script) the
// tokenizer holds; its buffer grows to a few times that. The rest of a
// longer one is skipped without the tokenizer (see skipToken).
const maxToken = 1 << 20

// scanPage is parsePage with the longest token the tokenizer may hold.
func scanPage(pageURL *url.URL, contentType string, body []byte, agent string, followNofollow bool, maxLinks, maxToken int) (page, error) {
	src := pageSource{body: body, maxToken: maxToken}
	var name string
	src.enc, name, _ = charset.DetermineEncoding(body, contentType)
	if name == "utf-8" {
		src.in = body
	}
	s := linkScan{base: pageURL, agent: agent, followNofollow: followNofollow, maxLinks: maxLinks}
	// Links resolve against the first <base href> in the page, which may
	// follow them: a page that has one is first read up to it. UTF-16 is
	// the one charset crawld decodes that hides ASCII.
	if strings.HasPrefix(name, "utf-16") || containsFold(body, "<base") {
		b := linkScan{base: pageURL, findBase: true}
		if err := src.scan(&b); err != nil {
			return page{}, err
		}
		s.base, s.baseRead = b.base, true
	}
	s.seen = make(map[string]struct{})
	if err := src.scan(&s); err != nil {
		return page{}, err
	}
	return s.page, nil
}

// pageSource is a page to scan, in its charset.
type pageSource struct {
	body     []byte
	enc      encoding.Encoding
	in       []byte // the page in UTF-8, once at hand
	maxToken int
}

// scan runs the tokenizer over the page for s, to the end or, if s only
// looks for the base, to it.
func (src *pageSource) scan(s *linkScan) error {
	var r io.Reader = bytes.NewReader(src.body)
	if src.in == nil {
		r = src.enc.NewDecoder().Reader(r)
	}
	var (
		pos    int    // where in the page in UTF-8 the next token starts
		rawTag string // the raw text element the next token is the text of
		// Where the last token started, and rawTag then, if it was a
		// text, comment or doctype, else -1: the tokenizer returns what it
		// holds of one of those before it fails on its length.
		textPos = -1
		textRaw string
	)
	z := html.NewTokenizer(r)
	z.SetMaxBuf(src.maxToken)
	for !s.findBase || !s.baseRead {
		// As the tree builder does: a CDATA section is text in SVG and
		// MathML, a bogus comment elsewhere.
		z.AllowCDATA(len(s.foreign) > 0)
		tt := z.Next()
		if tt == html.ErrorToken {
			err := z.Err()
			if err == html.ErrBufferExceeded {
				if src.in == nil {
					// Decoded whole, the once a page needs it, to
					// skip the token in.
					if src.in, err = src.enc.NewDecoder().Bytes(src.body); err != nil {
						return fmt.Errorf("parse html: %w", err)
					}
				}
				if textPos >= 0 {
					// Skipping a text, comment or doctype that was
					// whole ends where the next token starts.
					pos, rawTag = textPos, textRaw
				}
				// Each skip moves on, so the scan ends.
				next := skipToken(src.in, pos, rawTag)
				if next <= pos {
					next = len(src.in)
				}
				pos, rawTag, textPos = next, "", -1
				z = html.NewTokenizer(bytes.NewReader(src.in[pos:]))
				z.SetMaxBuf(src.maxToken)
				continue
			}
			if err != io.EOF {
				return fmt.Errorf("parse html: %w", err)
			}
			return nil
		}
		textPos = -1
		if tt == html.TextToken || tt == html.CommentToken || tt == html.DoctypeToken {
			textPos, textRaw = pos, rawTag
		}
		pos += len(z.Raw())
		rawTag = ""
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			rawTag = s.startTag(z, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			s.endTag(z)
		}
	}
	return nil
}

// linkScan is parsePage's state between tokens.
type linkScan struct {
	page
	base           *url.URL // what links resolve against
	baseRead       bool     // base is final: the first <base href> was read, or looked for
	findBase       bool     // the scan looks for the first <base href>, and nothing else
	agent          string
	followNofollow bool
	maxLinks       int
	seen           map[string]struct{} // the links taken, as strings
	// foreign holds the SVG and MathML elements open, innermost last.
	// Inside them the tree builder gives no element raw text, reads CDATA
	// sections, and takes xlink:href for href.
	foreign []foreignElement
}

// startTag takes what a start tag holds (a link, the base, a robots meta
// tag) and follows SVG and MathML nesting. It returns the tag's name if the
// tokenizer reads the next token as the element's raw text.
func (s *linkScan) startTag(z *html.Tokenizer, selfClosing bool) (rawTag string) {
	var buf [maxTagName]byte
	name := tagName(z.Raw(), buf[:0])
	foreign := s.enter(name, selfClosing)
	if foreign {
		z.NextIsNotRawText()
	} else if isRawTag(name) {
		// Even when self-closing: the tokenizer does not look.
		return string(name)
	}
	var el string
	switch string(name) {
	case "a", "area":
		if s.truncated || s.findBase {
			return ""
		}
		el = "a"
	case "base":
		el = "base"
	case "meta":
		if s.findBase {
			return ""
		}
		el = "meta"
	default:
		return ""
	}
	_, hasAttr := z.TagName()
	if !hasAttr {
		return ""
	}
	// The tree builder keeps an attribute's first value, and in foreign
	// content reads xlink:href as href (in the xlink namespace), which
	// a[href] matches too.
	var href, rel, metaName, content *string
	for hasAttr {
		var key, val []byte
		key, val, hasAttr = z.TagAttr()
		var to **string
		switch string(key) {
		case "href":
			to = &href
		case "xlink:href":
			if foreign {
				to = &href
			}
		case "rel":
			to = &rel
		case "name":
			to = &metaName
		case "content":
			to = &content
		}
		if to != nil && *to == nil {
			v := string(val)
			*to = &v
		}
	}
	switch el {
	case "base":
		if href != nil && !s.baseRead {
			s.setBase(*href)
		}
	case "meta":
		if metaName != nil && content != nil {
			n := strings.ToLower(strings.TrimSpace(*metaName))
			if n == "robots" || strings.EqualFold(n, s.agent) {
				noindex, nofollow := robotsDirectives(*content)
				s.noindex = s.noindex || noindex
				s.nofollow = s.nofollow || nofollow
			}
		}
	default:
		if href == nil {
			return ""
		}
		r := ""
		if rel != nil {
			r = *rel
		}
		s.link(*href, r)
	}
	return ""
}

// link takes an a or area element's href, resolved, unless it is to be
// skipped, a repeat, or the cap is reached.
func (s *linkScan) link(href, rel string) {
	if s.maxLinks > 0 && len(s.links) >= s.maxLinks {
		s.truncated = true
		return
	}
	href = cleanHref(href)
	if href == "" || hasSkippedScheme(href) || !s.followNofollow && hasToken(rel, "nofollow") {
		return
	}
	u, err := s.base.Parse(href)
	if err != nil {
		return
	}
	u.Fragment, u.RawFragment = "", ""
	key := u.String()
	if _, dup := s.seen[key]; dup {
		return
	}
	s.seen[key] = struct{}{}
	s.links = append(s.links, u)
}

// setBase makes the first <base href> the base.
func (s *linkScan) setBase(href string) {
	s.baseRead = true
	if u, err := s.base.Parse(cleanHref(href)); err == nil {
		s.base = u
	}
}

// skipToken returns where the token that starts at in[pos:] ends, for a
// token too long for the tokenizer, as the tokenizer would read it: the
// raw text of a rawTag element runs to its end tag; a text to the next
// '<'; a comment to "-->"; a tag, whose attributes are lost, to the '>'
// outside its quoted values, and with the raw text that follows it if
// it opens one.
func skipToken(in []byte, pos int, rawTag string) int {
	rest := in[pos:]
	// at is where in in the token ends if it ends at rest[from+i:], i
	// found by an index function, or at the end when i < 0.
	at := func(from, i int) int {
		if i < 0 {
			return len(in)
		}
		return pos + from + i
	}
	if rawTag == "plaintext" {
		return len(in)
	}
	if rawTag != "" {
		for i := 0; ; i++ {
			j := bytes.Index(rest[i:], []byte("</"))
			if j < 0 {
				return len(in)
			}
			i += j
			if t := rest[i+2:]; len(t) >= len(rawTag) && strings.EqualFold(string(t[:len(rawTag)]), rawTag) &&
				(len(t) == len(rawTag) || bytes.IndexByte([]byte("\t\n\f\r />"), t[len(rawTag)]) >= 0) {
				if i > 0 {
					return pos + i
				}
				break // the raw text is empty: the end tag is too long
			}
		}
	}
	if len(rest) < 2 || rest[0] != '<' {
		return at(1, bytes.IndexByte(rest[min(1, len(rest)):], '<'))
	}
	c := rest[1]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		return at(4+3, bytes.Index(rest[4:], []byte("-->")))
	case c == '!' || c == '?' || c == '/' && (len(rest) < 3 || !isASCIILetter(rest[2])):
		return at(1, bytes.IndexByte(rest, '>'))
	case c != '/' && !isASCIILetter(c):
		return at(1, bytes.IndexByte(rest[1:], '<'))
	}
	var buf [maxTagName]byte
	name := tagName(rest, buf[:0])
	i := 1
	for i < len(rest) && rest[i] != '>' {
		if rest[i] != '=' {
			i++
			continue
		}
		for i++; i < len(rest) && bytes.IndexByte([]byte("\t\n\f\r "), rest[i]) >= 0; i++ {
		}
		if i < len(rest) && (rest[i] == '"' || rest[i] == '\'') {
			j := bytes.IndexByte(rest[i+1:], rest[i])
			if j < 0 {
				return len(in)
			}
			i += 1 + j + 1
		}
	}
	if i >= len(rest) {
		return len(in)
	}
	if c != '/' && isRawTag(name) {
		return skipToken(in, pos+i+1, string(name))
	}
	return pos + i + 1
}

// isASCIILetter reports whether c is an ASCII letter.
func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// maxTagName is the longest tag name tagName lowers without allocating:
// that of every element parsePage looks for, SVG's and MathML's included.
const maxTagName = 32

// tagName is the name of the tag token raw, lowered into buf: as the
// tokenizer's TagName, which allocates on every call.
func tagName(raw, buf []byte) []byte {
	raw = bytes.TrimPrefix(bytes.TrimPrefix(raw, []byte("<")), []byte("/"))
	if i := bytes.IndexAny(raw, " \t\n\f\r/>"); i >= 0 {
		raw = raw[:i]
	}
	for _, c := range raw {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// containsFold reports whether b holds s, an ASCII string in lower case,
// in any case.
func containsFold(b []byte, s string) bool {
	for {
		i := bytes.IndexByte(b, s[0])
		if i < 0 {
			return false
		}
		b = b[i:]
		if len(b) < len(s) {
			return false
		}
		if strings.EqualFold(string(b[:len(s)]), s) {
			return true
		}
		b = b[1:]
	}
}

// robotsDirectives reads the comma-separated directives of a robots meta tag
// or X-Robots-Tag value: "none" means both noindex and nofollow.
func robotsDirectives(content string) (noindex, nofollow bool) {
	for d := range strings.SplitSeq(content, ",") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "noindex":
			noindex = true
		case "nofollow":
			nofollow = true
		case "none":
			noindex, nofollow = true, true
		}
	}
	return noindex, nofollow
}

// robotsTag reads X-Robots-Tag headers. A value may name the crawler it is
// for ("crawld: nofollow"); values for other crawlers are ignored.
func robotsTag(h http.Header, agent string) (noindex, nofollow bool) {
	for _, v := range h.Values("X-Robots-Tag") {
		if name, rest, ok := strings.Cut(v, ":"); ok && !strings.ContainsAny(name, ",") {
			// "unavailable_after: <date>" is a directive, not a crawler name.
			if n := strings.TrimSpace(name); !strings.EqualFold(n, "unavailable_after") {
				if !strings.EqualFold(n, agent) {
					continue
				}
				v = rest
			}
		}
		ni, nf := robotsDirectives(v)
		noindex, nofollow = noindex || ni, nofollow || nf
	}
	return noindex, nofollow
}

// hasToken reports whether the space-separated list has token, ignoring case.
func hasToken(list, token string) bool {
	for f := range strings.FieldsSeq(list) {
		if strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

// cleanHref strips what browsers strip from an href: surrounding whitespace
// and any tab or newline inside it (WHATWG URL parsing).
func cleanHref(href string) string {
	href = strings.TrimSpace(href)
	if strings.ContainsAny(href, "\t\n\r") {
		href = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, href)
	}
	return href
}

// hasSkippedScheme reports whether href is a link that is not a document to
// fetch (a script, a mail address, a phone number, inline data).
func hasSkippedScheme(href string) bool {
	i := strings.IndexByte(href, ':')
	if i < 0 {
		return false
	}
	switch strings.ToLower(href[:i]) {
	case "javascript", "mailto", "tel", "data":
		return true
	}
	return false
}
