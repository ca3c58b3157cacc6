// Package filter puts URLs into a canonical form, so that one page reached
// through differently spelled links is crawled once, and decides from
// allow-lists of domains, schemes and extensions whether a URL may be crawled.
// Optional [Limits] also keep a crawl out of crawler traps, the endless URL
// spaces that calendars, session paths and relative-link loops generate, by
// rejecting URLs that are too long, have too many path segments or repeat a
// path segment too often. It does no I/O.
package filter

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
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

// Reason says why a URL was accepted or rejected. The zero value is ReasonOK.
type Reason uint8

// The reasons, in the order Check tests them.
const (
	ReasonOK        Reason = iota // accepted
	ReasonInvalid                 // not absolute, no host, or opaque
	ReasonScheme                  // scheme not allowed
	ReasonDomain                  // host not allowed
	ReasonExtension               // extension of the last path segment not allowed
	ReasonTooLong                 // URL longer than Limits.MaxURLLength
	ReasonTrap                    // path over Limits.MaxPathSegments or Limits.MaxRepeats
)

// String returns a short lowercase label ("ok", "invalid", "scheme", "domain",
// "extension", "too_long", "trap") that stays stable, for metrics and debug
// logs.
func (r Reason) String() string {
	switch r {
	case ReasonOK:
		return "ok"
	case ReasonInvalid:
		return "invalid"
	case ReasonScheme:
		return "scheme"
	case ReasonDomain:
		return "domain"
	case ReasonExtension:
		return "extension"
	case ReasonTooLong:
		return "too_long"
	case ReasonTrap:
		return "trap"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Reasons returns every Reason value, in order, so that counters can be
// registered before the first URL is checked. The slice is the caller's.
func Reasons() []Reason {
	return []Reason{ReasonOK, ReasonInvalid, ReasonScheme, ReasonDomain, ReasonExtension, ReasonTooLong, ReasonTrap}
}

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

// Rules is a compiled set of allow-lists and limits. It is immutable, so it
// is safe for concurrent use. The zero Rules allows every valid URL.
type Rules struct {
	schemes map[string]struct{}
	exact   map[string]struct{} // hosts allowed as they are
	suffix  map[string]struct{} // domains allowed with all their subdomains
	exts    []string            // lowercase, without the dot; "" is "none"
	limits  Limits
}

// WithLimits returns a copy of r that also applies l, in place of any limits
// r had. r is not modified; the copy shares its allow-lists, which neither
// changes.
func (r *Rules) WithLimits(l Limits) *Rules {
	c := *r
	c.limits = l
	return &c
}

// NewRules compiles the allow-lists. A nil or empty list puts no restriction
// on its dimension.
//
// Domains are matched case-insensitively against the host without its port:
// "example.com" allows only that host (IP addresses work the same way), while
// "*.example.com" and ".example.com" allow example.com and all its
// subdomains. Schemes are matched case-insensitively. Extensions may be
// written "html", ".html" or "HTML"; "" allows URLs whose last path segment
// has no extension.
//
// NewRules returns an error naming the first value that is not a valid
// pattern, scheme or extension.
func NewRules(domains, schemes, extensions []string) (*Rules, error) {
	r := &Rules{}
	for _, d := range domains {
		name, sub, err := compileDomain(d)
		if err != nil {
			return nil, err
		}
		if sub {
			r.suffix = add(r.suffix, name)
		} else {
			r.exact = add(r.exact, name)
		}
	}
	for _, s := range schemes {
		if !validScheme(s) {
			return nil, fmt.Errorf("filter: invalid scheme %q", s)
		}
		r.schemes = add(r.schemes, lowerASCII(s))
	}
	for _, e := range extensions {
		ext := strings.ToLower(strings.TrimPrefix(e, "."))
		// Neither can occur in the extension of a URL, so such an entry
		// would silently match nothing.
		if i := strings.IndexAny(ext, "./"); i >= 0 {
			return nil, fmt.Errorf("filter: invalid extension %q: contains %q", e, ext[i:i+1])
		}
		r.exts = append(r.exts, ext)
	}
	return r, nil
}

func add(m map[string]struct{}, k string) map[string]struct{} {
	if m == nil {
		m = make(map[string]struct{})
	}
	m[k] = struct{}{}
	return m
}

// compileDomain validates pattern and returns its lowercased domain name and
// whether subdomains are allowed too.
func compileDomain(pattern string) (name string, sub bool, err error) {
	bad := func(why string) error {
		return fmt.Errorf("filter: invalid domain pattern %q: %s", pattern, why)
	}
	name = lowerASCII(pattern)
	switch {
	case name == "":
		return "", false, bad("empty")
	case strings.Contains(name, "/"):
		return "", false, bad(`contains "/"`)
	case strings.Contains(name, ":"):
		return "", false, bad(`contains ":"`)
	case strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return "", false, bad("contains whitespace")
	case name == "*" || name == "*." || name == ".":
		return "", false, bad("matches every host; leave the list empty for no restriction")
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name, sub = rest, true
	} else if rest, ok := strings.CutPrefix(name, "."); ok {
		name, sub = rest, true
	}
	if strings.Contains(name, "*") {
		return "", false, bad(`"*" is only allowed as a leading "*."`)
	}
	return name, sub, nil
}

// validScheme reports whether s matches RFC 3986's
// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// Check reports whether the normalised URL u passes every rule (ReasonOK),
// and if not, the first rule it fails, in the order invalid, scheme, domain,
// extension, too_long, trap. It does not allocate. u should come from
// Normalize or Parse: Check does not lowercase, and so rejects "HTTP" when
// only "http" is allowed.
func (r *Rules) Check(u *url.URL) Reason {
	host := u.Hostname()
	l := &r.limits
	switch {
	case u.Opaque != "" || u.Scheme == "" || host == "":
		return ReasonInvalid
	case len(r.schemes) > 0 && !has(r.schemes, u.Scheme):
		return ReasonScheme
	case len(r.exact)+len(r.suffix) > 0 && !r.domainOK(host):
		return ReasonDomain
	case len(r.exts) > 0 && !r.extensionOK(extension(u.Path)):
		return ReasonExtension
	case l.MaxURLLength > 0 && urlLength(u) > l.MaxURLLength:
		return ReasonTooLong
	case (l.MaxPathSegments > 0 || l.MaxRepeats > 0) && l.trap(u):
		return ReasonTrap
	}
	return ReasonOK
}

func has(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// domainOK reports whether host, or one of its parent domains, is allowed.
func (r *Rules) domainOK(host string) bool {
	if has(r.exact, host) {
		return true
	}
	for len(r.suffix) > 0 {
		if has(r.suffix, host) {
			return true
		}
		i := strings.IndexByte(host, '.')
		if i < 0 {
			break
		}
		host = host[i+1:]
	}
	return false
}

// extensionOK reports whether ext is allowed. A linear scan with EqualFold
// avoids allocating a lowercased copy; extension lists are short.
func (r *Rules) extensionOK(ext string) bool {
	for _, e := range r.exts {
		if strings.EqualFold(e, ext) {
			return true
		}
	}
	return false
}

// extension returns the text after the last "." of the last segment of path,
// or "" if there is none. A leading dot marks a hidden name, not an
// extension.
func extension(path string) string {
	seg := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.LastIndexByte(seg, '.'); i > 0 {
		return seg[i+1:]
	}
	return ""
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
