package crawler

import (
	"slices"

	"golang.org/x/net/html"
)

// foreignElement is an open SVG or MathML element.
type foreignElement struct {
	name string // lower case, as the tokenizer gives it
	svg  bool   // in SVG, else in MathML
	// html holds the HTML elements open inside the element, an
	// integration point, innermost last (at most maxOpenHTML). While one
	// is open, the tree builder reads tags by the HTML rules, which
	// ignore an end tag of the point itself.
	html []string
}

// maxOpenHTML bounds foreignElement.html; beyond it, elements are not
// kept, as if they were closed at once.
const maxOpenHTML = 64

// enter follows SVG and MathML nesting for a start tag as the tree builder
// does (WHATWG HTML 13.2.6.5), and reports whether the element is SVG or
// MathML. Of the HTML elements it keeps only those open inside an
// integration point, and closes them by name alone (no implied end tags,
// no adoption agency): enough to know when an end tag of the point is
// ignored, as the tree builder ignores it while one is open.
func (s *linkScan) enter(name []byte, selfClosing bool) bool {
	svg := string(name) == "svg"
	if n := len(s.foreign); n > 0 {
		top := s.foreign[n-1]
		switch {
		case len(top.html) > 0 || integrationPoint(top, string(name)):
			if !svg && string(name) != "math" {
				s.openHTML(n-1, name, selfClosing)
			}
		case breakout(string(name)):
			for n > 0 && !integrationPoint(s.foreign[n-1], string(name)) {
				n--
			}
			s.foreign = s.foreign[:n]
			if n > 0 {
				s.openHTML(n-1, name, selfClosing)
			}
			return false
		default:
			if !selfClosing {
				s.foreign = append(s.foreign, foreignElement{name: string(name), svg: top.svg})
			}
			return true
		}
	}
	if svg || string(name) == "math" {
		if !selfClosing {
			s.foreign = append(s.foreign, foreignElement{name: string(name), svg: svg})
		}
		return true
	}
	return false
}

// openHTML notes an HTML element opened inside the integration point
// s.foreign[i]; a void element has no end and is not kept.
func (s *linkScan) openHTML(i int, name []byte, selfClosing bool) {
	el := &s.foreign[i]
	if !selfClosing && !voidElement(string(name)) && len(el.html) < maxOpenHTML {
		el.html = append(el.html, string(name))
	}
}

// endTag closes the SVG or MathML element it names, and those inside it,
// or, inside an integration point holding open HTML elements, the HTML
// element it names (ignored, as the tree builder ignores it, if none).
func (s *linkScan) endTag(z *html.Tokenizer) {
	if len(s.foreign) == 0 {
		return
	}
	var buf [maxTagName]byte
	name := tagName(z.Raw(), buf[:0])
	if top := &s.foreign[len(s.foreign)-1]; len(top.html) > 0 {
		if i := slices.Index(top.html, string(name)); i >= 0 {
			top.html = top.html[:i]
		}
		return
	}
	for i := len(s.foreign) - 1; i >= 0; i-- {
		if s.foreign[i].name == string(name) {
			s.foreign = s.foreign[:i]
			return
		}
	}
}

// isRawTag reports whether the tokenizer reads what follows a start tag so
// named as raw text, up to the matching end tag (to the end, for
// plaintext), as the tree builder does outside SVG and MathML.
func isRawTag(name []byte) bool {
	switch string(name) {
	case "iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp":
		return true
	}
	return false
}

// integrationPoint reports whether a start tag named name inside el is
// HTML: el is an SVG desc, foreignObject or title, or a MathML text
// element (mi, mo, mn, ms, mtext) and name is neither mglyph nor malignmark.
// (annotation-xml is one only with an encoding attribute, not kept here.)
func integrationPoint(el foreignElement, name string) bool {
	if el.svg {
		return el.name == "desc" || el.name == "foreignobject" || el.name == "title"
	}
	switch el.name {
	case "mi", "mo", "mn", "ms", "mtext":
		return name != "mglyph" && name != "malignmark"
	}
	return false
}

// voidElement reports whether an HTML element so named has no content and
// no end tag.
func voidElement(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr":
		return true
	}
	return false
}

// breakout reports whether a start tag closes SVG and MathML content up to
// the nearest integration point (font too, with some attributes; not here).
func breakout(name string) bool {
	switch name {
	case "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt",
		"em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li",
		"listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span",
		"strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var":
		return true
	}
	return false
}
