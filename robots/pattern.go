package robots

import "strings"

// rule is one allow or disallow line of the groups that apply.
type rule struct {
	allow    bool
	pattern  string   // normalised; kept for tests and debugging, matches uses segs
	priority int      // octets of the normalised pattern (RFC 9309 2.2.2)
	segs     []string // the pattern split at "*", without a final "$"
	anchored bool     // the pattern ended in "$": the target must end where it does
}

// newRule builds a rule from a non-empty pattern as written in the file.
func newRule(value []byte, allow bool) rule {
	pat := normalize(string(value)) // string() copies, so the body is not retained
	r := rule{allow: allow, pattern: pat, priority: len(pat)}
	if strings.HasSuffix(pat, "$") {
		pat, r.anchored = pat[:len(pat)-1], true
	}
	// A final "*" matches whatever is left, which an unanchored pattern
	// allows anyway: "/a*" and "/a*$" both mean "/a".
	if strings.HasSuffix(pat, "*") {
		pat, r.anchored = strings.TrimRight(pat, "*"), false
	}
	// Empty inner segments come from "**", which means "*"; the first one
	// stays, empty or not, as the prefix the target must start with.
	parts := strings.Split(pat, "*")
	r.segs = parts[:1]
	for _, s := range parts[1:] {
		if s != "" {
			r.segs = append(r.segs, s)
		}
	}
	return r
}

// matches reports whether the rule's pattern matches target, which is
// normalised.
func (r *rule) matches(target string) bool {
	first := r.segs[0]
	if !strings.HasPrefix(target, first) {
		return false
	}
	if len(r.segs) == 1 {
		return !r.anchored || len(target) == len(first)
	}
	rest, mid := target[len(first):], r.segs[1:]
	if r.anchored {
		// The last segment must end the target; placing it there first
		// leaves the most room for the others.
		last := mid[len(mid)-1]
		if !strings.HasSuffix(rest, last) {
			return false
		}
		rest, mid = rest[:len(rest)-len(last)], mid[:len(mid)-1]
	}
	// With "*" the only wildcard, the leftmost place for each segment is
	// never worse than any other, so there is nothing to backtrack to.
	for _, s := range mid {
		i := strings.Index(rest, s)
		if i < 0 {
			return false
		}
		rest = rest[i+len(s):]
	}
	return true
}

// normalize returns s in the form patterns and targets are compared in
// (see the package documentation). It returns s itself, without
// allocating, when s is already in that form.
func normalize(s string) string {
	i := firstToChange(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if d, ok := escapeAt(s, i); ok {
				if unreserved(d) {
					b.WriteByte(d)
				} else {
					writeEscape(&b, d)
				}
				i += 2
			} else {
				b.WriteString("%25")
			}
		case mustEscape(c):
			writeEscape(&b, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// firstToChange returns the index of the first octet of s that normalize
// would rewrite, or -1.
func firstToChange(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			d, ok := escapeAt(s, i)
			if !ok || unreserved(d) || isLowerHex(s[i+1]) || isLowerHex(s[i+2]) {
				return i
			}
			i += 2
			continue
		}
		if mustEscape(c) {
			return i
		}
	}
	return -1
}

// escapeAt decodes the escape starting at s[i] == '%'.
func escapeAt(s string, i int) (byte, bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	hi, ok1 := unhex(s[i+1])
	lo, ok2 := unhex(s[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func writeEscape(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

// unreserved reports whether c is an RFC 3986 unreserved character, whose
// escaped and plain forms are the same URI (RFC 3986 2.3).
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// mustEscape reports whether c can never appear literally in a URI (RFC
// 3986 2, and what url.URL.EscapedPath escapes), so that a pattern written
// with it can only match the escaped form.
func mustEscape(c byte) bool {
	if c <= ' ' || c >= 0x7F {
		return true
	}
	switch c {
	case '"', '<', '>', '\\', '^', '`', '{', '|', '}':
		return true
	}
	return false
}
