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
