package filter

import (
	"fmt"
	"net/url"
	"strings"
)

// Normalize returns the canonical form of u as a new URL (u is not modified),
// following RFC 3986 section 6.2.2: scheme and host lowercased, the default
// port of http and https and an empty port dropped, an empty path on a URL
// with a host made "/", dot segments removed, the hex digits of escapes
// uppercased and escapes of unreserved characters decoded in path and query,
// the fragment and an empty trailing "?" dropped. Escapes of other characters
// stay escaped, so "%2F" does not become a path separator; the query is
// otherwise kept byte for byte, because servers may depend on its order.
// Normalize is idempotent. Opaque URLs such as "mailto:x" only get their
// scheme lowercased. Relative references keep their dot segments, which
// are only meaningful against a base.
func Normalize(u *url.URL) *url.URL {
	n := *u
	n.Scheme = lowerASCII(u.Scheme)
	if n.Opaque != "" {
		return &n
	}
	n.Host = normHost(n.Scheme, u.Host)
	n.Fragment, n.RawFragment, n.ForceQuery = "", "", false
	n.RawQuery = normEscapes(u.RawQuery)

	// Work on the escaped path so that "%2F" stays distinct from "/".
	p := normEscapes(u.EscapedPath())
	if n.Host != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p // what String would print anyway
	}
	if strings.HasPrefix(p, "/") {
		p = removeDotSegments(p)
	}
	// Like url's setPath: RawPath is kept only when Path's default escaping
	// differs, so that String prints p. The escapes in p all come from
	// EscapedPath, which only returns valid ones, so unescaping cannot fail.
	n.Path, _ = url.PathUnescape(p)
	n.RawPath = ""
	if n.EscapedPath() != p {
		n.RawPath = p
	}
	return &n
}

// Parse parses raw as an absolute URL and returns its normalised form. It
// returns an error if raw does not parse or has no scheme or no host.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("filter: %q has no scheme", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("filter: %q has no host", raw)
	}
	return Normalize(u), nil
}

// normHost lowercases host and drops an empty port and the scheme's default
// port. Only ASCII is lowercased: internationalised names belong in
// punycode, and Unicode case mapping would rewrite invalid UTF-8.
func normHost(scheme, host string) string {
	host = lowerASCII(host)
	i := strings.LastIndexByte(host, ':')
	// Only a colon where url.Parse looks for the port is one: right after an
	// IPv6 literal, else the only colon (non-http schemes may have more, and
	// dropping the last would make the one before it the port separator).
	var isPort bool
	if strings.HasPrefix(host, "[") {
		isPort = i >= 0 && i == strings.LastIndexByte(host, ']')+1
	} else {
		isPort = i >= 0 && i == strings.IndexByte(host, ':')
	}
	if !isPort {
		return host
	}
	if port := host[i+1:]; port == "" || scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		return host[:i]
	}
	return host
}

// normEscapes uppercases the hex digits of every escape in s and decodes
// escapes of unreserved characters (RFC 3986 section 6.2.2.2).
func normEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	// A "%" that starts no escape can only come from a query (url.Parse
	// rejects it elsewhere). Next to one, decoding could form a new escape
	// ("%%341" would become "%%41"), so then only the case is changed.
	decode := !hasStrayPercent(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		hi, lo, ok := escapeAt(s, i)
		switch {
		case !ok:
			b.WriteByte(s[i])
			continue
		case decode && unreserved(hi<<4|lo):
			b.WriteByte(hi<<4 | lo)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[hi])
			b.WriteByte(hex[lo])
		}
		i += 2
	}
	return b.String()
}

// escapeAt reports whether s[i:] starts with an escape "%XY", and if so
// returns the values of its two hex digits.
func escapeAt(s string, i int) (hi, lo byte, ok bool) {
	if s[i] != '%' || i+2 >= len(s) {
		return 0, 0, false
	}
	hi, ok1 := unhex(s[i+1])
	lo, ok2 := unhex(s[i+2])
	return hi, lo, ok1 && ok2
}

// hasStrayPercent reports whether s has a "%" that does not start an escape.
func hasStrayPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if _, _, ok := escapeAt(s, i); !ok {
			return true
		}
		i += 2
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// removeDotSegments applies RFC 3986 section 5.2.4 to the absolute path p.
func removeDotSegments(p string) string {
	if !hasDotSegment(p) {
		return p
	}
	segs := strings.Split(p[1:], "/")
	last := segs[len(segs)-1]
	out := segs[:0]
	for _, s := range segs {
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	// A final "." or ".." names a directory, so the result keeps a slash.
	if (last == "." || last == "..") && len(out) > 0 {
		res += "/"
	}
	return res
}

// hasDotSegment reports whether p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for s := range strings.SplitSeq(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// lowerASCII lowercases the ASCII letters of s and leaves other bytes alone.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
