package filter

import (
	"net/url"
	"strings"
)

// Limits are the rules that keep a crawl out of traps. Zero values mean no
// limit; so do negative ones.
//
// MaxURLLength is measured on the URL as it is sent: u.String() without its
// fragment, which for a normalised URL is all of u.String().
//
// Path segments are those of the escaped path (u.EscapedPath()), so an
// escaped "%2F" does not separate segments, and are compared byte for byte:
// "%41" and "A" differ, which does not matter for normalised URLs. Empty
// segments, from a trailing "/" or from "//", count toward neither limit:
// "/a/b/c", "/a/b/c/" and "/a//b/c" all have 3 segments, "/" has none.
// MaxRepeats 3 accepts "/a/b/a/b/a/b" but rejects "/a/b/a/b/a/b/a", where "a"
// occurs 4 times, wherever they are, and so stops a calendar that links ever
// further ahead at "/cal/2024/01/next/next/next/next".
type Limits struct {
	MaxURLLength    int // longest URL accepted, in bytes; crawld's default is 2048
	MaxPathSegments int // most non-empty path segments accepted; crawld's default is 32
	MaxRepeats      int // most times one path segment may occur in a path; crawld's default is 3
}

// trap reports whether the path of u has more segments than
// l.MaxPathSegments or a segment more often than l.MaxRepeats.
func (l *Limits) trap(u *url.URL) bool {
	p, _ := pathView(u)
	if l.MaxPathSegments > 0 && segments(p) > l.MaxPathSegments {
		return true
	}
	return l.MaxRepeats > 0 && repeats(p, l.MaxRepeats)
}

// segments returns the number of non-empty segments of path.
func segments(path string) int {
	n := 0
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg != "" {
			n++
		}
	}
	return n
}

// repeats reports whether a non-empty segment of path occurs more than limit
// times. Counting with a map would allocate, so every segment is compared
// with the ones after it instead: the first occurrence of a segment sees all
// the others. That is quadratic in the number of segments, which is cheap
// because Check counts the segments first, so with crawld's default
// MaxPathSegments of 32 there are at most 32 (496 comparisons, most of them
// ending at differing lengths). The segments are cut out once, into an array
// on the stack; a path with more than it holds, possible only with a larger
// or no segment limit, is rescanned for each segment by repeatsScan instead.
// MaxURLLength, which Check tests first, still bounds that work.
func repeats(path string, limit int) bool {
	var buf [64]string
	segs := buf[:0]
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == "" {
			continue
		}
		if len(segs) == len(buf) {
			return repeatsScan(path, limit)
		}
		segs = append(segs, seg)
	}
	for i, seg := range segs {
		n := 1
		for _, s := range segs[i+1:] {
			if s == seg {
				if n++; n > limit {
					return true
				}
			}
		}
	}
	return false
}

// repeatsScan is repeats for any number of segments.
func repeatsScan(path string, limit int) bool {
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == "" {
			continue
		}
		n := 1
		for later, left := rest, more; left && n <= limit; {
			var s string
			s, later, left = strings.Cut(later, "/")
			if s == seg {
				n++
			}
		}
		if n > limit {
			return true
		}
	}
	return false
}

// pathView returns the path that u.EscapedPath() is made from, without the
// allocations EscapedPath makes for a path with a RawPath or one that needs
// escaping: u.RawPath if EscapedPath would return it (escaped is then true),
// else u.Path, which EscapedPath escapes byte by byte. Escaping leaves "/"
// alone and makes no "/", so the segments of Path are those of its escaped
// form, and two of them are equal exactly when their escaped forms are.
func pathView(u *url.URL) (path string, escaped bool) {
	if u.RawPath != "" && rawPathOf(u.RawPath, u.Path) {
		return u.RawPath, true
	}
	return u.Path, false
}

// rawPathOf reports whether raw is a valid escaped form of path, the test
// EscapedPath applies to RawPath, without unescaping raw into a new string.
func rawPathOf(raw, path string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			hi, lo, ok := escapeAt(raw, i)
			if !ok {
				return false
			}
			c = hi<<4 | lo
			i += 2
		} else if byteClass[c]&rawPathOK == 0 {
			return false
		}
		if j == len(path) || path[j] != c {
			return false
		}
		j++
	}
	return j == len(path)
}

// urlLength returns the length of the URL u as it is sent: len(u.String())
// without the fragment, computed without building the string. u must have a
// scheme and a host and no Opaque, as Check has made sure.
func urlLength(u *url.URL) int {
	n := len(u.Scheme) + len("://") + escapedLen(u.Host, escHost)
	if u.User != nil {
		n += escapedLen(u.User.Username(), escUser) + len("@")
		if pw, ok := u.User.Password(); ok {
			n += len(":") + escapedLen(pw, escUser)
		}
	}
	p, escaped := pathView(u)
	switch {
	case escaped:
		n += len(p)
	case p == "*":
		n += len(p) // EscapedPath's exception, for "OPTIONS *"
	default:
		n += escapedLen(p, escPath)
	}
	if p != "" && p[0] != '/' {
		n++ // String separates the host from a relative path
	}
	if u.ForceQuery || u.RawQuery != "" {
		n += len("?") + len(u.RawQuery)
	}
	return n
}

// escapedLen returns the length of s once the bytes of the given class are
// escaped, each as "%XY".
func escapedLen(s string, class uint8) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&class != 0 {
			n += 2
		}
	}
	return n
}

// The bits of byteClass.
const (
	escPath   uint8 = 1 << iota // escaped by EscapedPath
	escHost                     // escaped in the host by String
	escUser                     // escaped in user names and passwords by String
	rawPathOK                   // allowed unescaped in a RawPath that EscapedPath returns
)

// byteClass says how net/url treats each byte in the parts of a URL that
// urlLength measures. It is asked of net/url itself rather than copied from
// its unexported rules, so that the lengths agree with String by
// construction.
var byteClass = func() (t [256]uint8) {
	for i := range t {
		c := string([]byte{byte(i)})
		if p := "/" + c; (&url.URL{Path: p}).EscapedPath() != p {
			t[i] |= escPath
		}
		if (&url.URL{Host: c}).String() != "//"+c {
			t[i] |= escHost
		}
		if url.User(c).String() != c {
			t[i] |= escUser
		}
		// EscapedPath returns RawPath "/c" if c may stand unescaped in a
		// RawPath, else it escapes Path "/c" to "/%XY". A "%" in a RawPath
		// starts an escape, which rawPathOf decodes itself.
		if p := "/" + c; c != "%" && (&url.URL{Path: p, RawPath: p}).EscapedPath() == p {
			t[i] |= rawPathOK
		}
	}
	return t
}()
