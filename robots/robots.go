// Package robots parses robots.txt files and answers, for one crawler,
// whether a URL may be fetched, following RFC 9309 (the Robots Exclusion
// Protocol) with Google's open-source robotstxt library as the reference
// where the RFC leaves room.
//
// # Why not a library
//
// crawld used github.com/temoto/robotstxt, which disagrees with the
// reference on about one case in eleven: it rejects a whole file for a rule
// before the first User-agent line or for "Crawl-delay : 60", matches
// user-agents by prefix, lets the first rule win an allow/disallow tie, does
// not anchor wildcard patterns, ignores an empty matching group and reads
// the body with no size cap. Wrapping it and correcting each of those would
// take more code than this package, and would keep a dependency; this
// package uses only the standard library.
//
// # Design
//
// Parse does all the work once per host: it keeps only the rules of the
// groups that apply to the crawler, normalises their patterns, splits them
// at their wildcards and sorts them by precedence, so that Allowed is a
// scan that stops at the first matching rule and allocates nothing for
// ordinary targets. Rules is immutable after Parse and safe for concurrent
// use.
//
// The decisions, with the text of the RFC that drives each:
//
//   - Size. RFC 9309 2.5: "The parsing limit MUST be at least 500
//     kibibytes." Parse reads MaxSize bytes. A body of MaxSize bytes or more
//     is taken to be cut (the caller reads at most MaxSize), so its last,
//     unterminated line is dropped rather than read as a shorter, and
//     therefore broader, rule. Lines longer than 16663 bytes are cut there,
//     as the reference implementation does.
//
//   - Lines. RFC 9309 2.2: keys are case-insensitive, whitespace may surround
//     the key, the colon and the value, "#" starts a comment, and lines end
//     with CR, LF or CRLF. A UTF-8 byte order mark, or the first bytes of
//     one, is skipped at the start of the file, as the reference does.
//     Lines that are not understood are skipped, never the file (RFC 9309
//     2.3.1.5: "Crawlers MUST try to parse each line of the robots.txt
//     file. Crawlers MUST use the parseable rules."). Like the reference, a
//     line without a colon is read as "key value" when it holds exactly
//     two words.
//
//   - Groups. RFC 9309 2.2: "group = startgroupline *(startgroupline /
//     emptyline) *(rule / emptyline)": one or more user-agent lines, then
//     rules; a user-agent line after a rule starts a new group, blank lines
//     end nothing, and rules before the first user-agent line belong to no
//     group and are ignored. RFC 9309 2.2.4: "Parsing of other records MUST
//     NOT interfere with the parsing of explicitly defined records ... a
//     "Sitemaps" record MUST NOT terminate a group", so Sitemap, Crawl-delay
//     and unknown lines leave the group open.
//
//   - Which group. RFC 9309 2.2.1: "Crawlers MUST use case-insensitive
//     matching to find the group that matches the product token"; "If there
//     is more than one group matching the user-agent, the matching groups'
//     rules MUST be combined into one group"; "If no matching group exists,
//     crawlers MUST obey the group with a user-agent line with the "*" value,
//     if present." A product token is made of letters, "_" and "-" only
//     (RFC 9309 2.2.1), so the token of a user-agent line is its longest
//     leading run of those characters, as in the reference: "FooBot/2.1"
//     and "FooBot*" name FooBot. The token must equal the crawler's
//     whole token: a group for "crawld-news" or "craw" is not one for
//     "crawld". A matching group without rules still matches, and then
//     everything is allowed; it does not fall back to "*".
//
//   - Which rule. RFC 9309 2.2.2: "The most specific match found MUST be
//     used. The most specific match is the match that has the most octets."
//     Octets are counted on the pattern (wildcards included) after
//     normalisation, as the reference does. "If an allow rule and a disallow
//     rule are equivalent, then the allow rule SHOULD be used", so an
//     equally long allow wins. An empty pattern matches nothing. "If no match
//     is found amongst the rules in a group for a matching user-agent or
//     there are no rules in the group, the URI is allowed. The /robots.txt
//     URI is implicitly allowed."
//
//   - Patterns. RFC 9309 2.2.3: "*" stands for any sequence of octets and
//     "$" marks the end of the pattern; patterns are anchored at the start
//     of the path. A "$" anywhere but last is an ordinary octet, as in the
//     reference. Matching places each literal segment at its leftmost
//     possible position, which is complete for "*"-only patterns and costs
//     a few strings.Index calls per rule, so no input makes it exponential.
//
//   - Encoding. RFC 9309 2.2.2: "Octets in the URI and robots.txt paths
//     outside the range of the ASCII coded character set ... MUST be
//     percent-encoded ... prior to comparison" and "If a percent-encoded
//     ASCII octet is encountered in the URI, it MUST be unencoded prior to
//     comparison, unless it is a reserved character". Patterns and targets
//     are both brought to one form: non-ASCII octets, controls, space and
//     the octets a URI may never hold literally are percent-encoded, a "%"
//     that starts no escape becomes "%25", escapes of unreserved characters
//     (RFC 3986 2.3) are decoded and the hex digits of the others are
//     uppercased. Reserved characters stay as written, escaped or not, so
//     "%2F" is never a path separator. This is the form filter.Normalize
//     gives URLs, so crawld's targets need no work at match time. Here the
//     reference differs, and the RFC is followed: it compares "%62%61%7A"
//     literally, where RFC 9309 Figure 4 reads "baz", and it leaves raw
//     UTF-8 in a target unencoded, so "/ツ" does not match a rule for
//     "/%E3%83%84".
//
//   - Crawl-delay is not in RFC 9309. It is read from the groups that
//     apply, in the same way as the rules; when they give several values the
//     largest wins, because the merged group is the crawler's and the
//     politer reading costs nothing but time.
package robots

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// MaxSize is how much of a robots.txt is parsed (RFC 9309 2.5: at least 500
// KiB); callers read at most this much, Parse ignores anything beyond it.
const MaxSize = 500 << 10

// maxLineLen is the longest line the reference implementation keeps
// (kMaxLineLen - 1 in Google's robots.cc); the rest of a longer line is
// dropped there, and here, so that both read such a file alike.
const maxLineLen = 2083*8 - 1

// Rules are the robots.txt rules that apply to one crawler: the merged groups
// matching its product token, else the merged "*" groups.
//
// Rules never change after they are made, so one value may be used from
// many goroutines. A nil *Rules allows everything, like AllowAll.
type Rules struct {
	rules    []rule // by precedence: the first that matches decides
	denyAll  bool   // DisallowAll
	delay    time.Duration
	sitemaps []string
}

// rule is one allow or disallow line of the groups that apply.
type rule struct {
	allow    bool
	pattern  string   // normalised; kept for tests and debugging, matches uses segs
	priority int      // octets of the normalised pattern (RFC 9309 2.2.2)
	segs     []string // the pattern split at "*", without a final "$"
	anchored bool     // the pattern ended in "$": the target must end where it does
}

// Parse reads a robots.txt body and keeps the rules for productToken (e.g.
// "crawld"). It never fails: lines it does not understand are skipped.
//
// productToken is compared with each user-agent line ignoring ASCII case,
// as a whole; one that is not a valid product token (empty, or holding
// characters other than letters, "_" and "-") matches no group, so the "*"
// groups apply.
func Parse(body []byte, productToken string) *Rules {
	if len(body) >= MaxSize {
		// The caller read MaxSize bytes and stopped: whatever follows the
		// last line break is a fragment of a line.
		body = body[:MaxSize]
		if i := bytes.LastIndexAny(body, "\r\n"); i >= 0 {
			body = body[:i+1]
		} else {
			body = nil
		}
	}
	body = skipBOM(body)

	p := parser{token: productToken}
	for len(body) > 0 {
		line := body
		if i := bytes.IndexAny(body, "\r\n"); i >= 0 {
			// A CRLF yields an empty line in between, which means nothing.
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		p.line(line)
	}
	return p.result()
}

// AllowAll returns Rules that allow everything (robots.txt missing, 4xx).
// RFC 9309 2.3.1.3: the crawler "MAY access any resources on the server".
func AllowAll() *Rules {
	return &Rules{}
}

// DisallowAll returns Rules that allow nothing but /robots.txt (robots.txt
// unreachable, 5xx). RFC 9309 2.3.1.4: "the crawler MUST assume complete
// disallow".
func DisallowAll() *Rules {
	return &Rules{denyAll: true}
}

// Allowed reports whether a request for target may be made. target is the
// request-target as sent in the HTTP request line: the URL's escaped path
// plus "?"+query if any (what url.URL.RequestURI returns), e.g.
// "/a/b%20c?x=1". "/robots.txt" is always allowed.
//
// An empty target is read as "/". Allowed does not allocate unless target
// holds an escape or an octet that must be escaped and is not in the
// normalised form described in the package documentation.
func (r *Rules) Allowed(target string) bool {
	if target == "/robots.txt" {
		return true
	}
	if r == nil || (!r.denyAll && len(r.rules) == 0) {
		return true
	}
	if target == "" {
		target = "/"
	}
	target = normalize(target)
	if target == "/robots.txt" { // spelt with escapes, e.g. "/robots%2Etxt"
		return true
	}
	if r.denyAll {
		return false
	}
	for i := range r.rules {
		if r.rules[i].matches(target) {
			return r.rules[i].allow
		}
	}
	return true
}

// CrawlDelay returns the Crawl-delay of the matching group (fractional
// seconds allowed, e.g. "0.5"), or 0 if it has none or it is invalid/negative.
//
// When the groups that apply give several valid values, the largest is
// returned. A value too large for a time.Duration returns the largest
// time.Duration.
func (r *Rules) CrawlDelay() time.Duration {
	if r == nil {
		return 0
	}
	return r.delay
}

// Size returns about how many bytes r takes in memory, for caches that
// bound the memory their rules take. A nil *Rules takes none.
func (r *Rules) Size() int {
	if r == nil {
		return 0
	}
	const str = int(unsafe.Sizeof(""))
	n := int(unsafe.Sizeof(*r)) + cap(r.rules)*int(unsafe.Sizeof(rule{})) + cap(r.sitemaps)*str
	for i := range r.rules {
		// The segments are substrings of the pattern: only their headers
		// are extra.
		n += len(r.rules[i].pattern) + cap(r.rules[i].segs)*str
	}
	for _, s := range r.sitemaps {
		n += len(s)
	}
	return n
}

// Sitemaps returns the URLs of every Sitemap line in the file, whatever group
// they appear in, in file order, deduplicated.
//
// The URLs are as written in the file, which RFC 9309 2.2.4 leaves to the
// sitemaps protocol (they should be absolute). The slice is the caller's.
func (r *Rules) Sitemaps() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.sitemaps)
}

// parser is the state of one Parse.
type parser struct {
	token string

	inGroup  bool // a user-agent line has been seen: rules have a group
	sawRule  bool // the current group has a rule, so a user-agent line starts the next
	specific bool // the current group names the crawler
	global   bool // the current group names "*"

	everSpecific  bool // some group named the crawler: "*" groups do not apply
	specificRules []rule
	globalRules   []rule
	specificDelay float64 // largest valid Crawl-delay seen, in seconds; 0 if none
	globalDelay   float64

	sitemaps []string
	seen     map[string]bool // sitemaps already listed
}

func (p *parser) line(line []byte) {
	if len(line) > maxLineLen {
		line = line[:maxLineLen]
	}
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	key, value, ok := splitLine(line)
	if !ok {
		return
	}
	switch {
	case equalFold(key, "user-agent"):
		p.userAgent(value)
	case equalFold(key, "allow"):
		p.rule(value, true)
	case equalFold(key, "disallow"):
		p.rule(value, false)
	case equalFold(key, "crawl-delay"):
		p.crawlDelay(value)
	case equalFold(key, "sitemap"):
		p.sitemap(value)
	}
}

func (p *parser) userAgent(value []byte) {
	if p.sawRule {
		p.specific, p.global, p.sawRule = false, false, false
	}
	p.inGroup = true
	// The reference also reads "* something" as "*": the rest is a comment
	// in all but name.
	if len(value) > 0 && value[0] == '*' && (len(value) == 1 || isSpace(value[1])) {
		p.global = true
		return
	}
	if tok := productToken(value); len(tok) > 0 && equalFold(tok, p.token) {
		p.specific, p.everSpecific = true, true
	}
}

func (p *parser) rule(value []byte, allow bool) {
	if !p.inGroup {
		return // RFC 9309 2.2: rules belong to the group above them, and there is none
	}
	p.sawRule = true // even an empty one: it is still a rule line ending the user-agent lines
	if len(value) == 0 || !(p.specific || p.global) {
		return
	}
	r := newRule(value, allow)
	if p.specific {
		p.specificRules = append(p.specificRules, r)
	}
	if p.global {
		p.globalRules = append(p.globalRules, r)
	}
}

func (p *parser) crawlDelay(value []byte) {
	if !p.inGroup || !(p.specific || p.global) {
		return
	}
	d, ok := parseDelay(value)
	if !ok {
		return
	}
	if p.specific {
		p.specificDelay = max(p.specificDelay, d)
	}
	if p.global {
		p.globalDelay = max(p.globalDelay, d)
	}
}

func (p *parser) sitemap(value []byte) {
	if len(value) == 0 {
		return
	}
	u := string(value)
	if p.seen[u] {
		return
	}
	if p.seen == nil {
		p.seen = make(map[string]bool)
	}
	p.seen[u] = true
	p.sitemaps = append(p.sitemaps, u)
}

func (p *parser) result() *Rules {
	rules, delay := p.globalRules, p.globalDelay
	if p.everSpecific {
		rules, delay = p.specificRules, p.specificDelay
	}
	slices.SortStableFunc(rules, func(a, b rule) int {
		if a.priority != b.priority {
			return b.priority - a.priority
		}
		switch {
		case a.allow == b.allow:
			return 0
		case a.allow:
			return -1
		}
		return 1
	})
	return &Rules{rules: rules, delay: seconds(delay), sitemaps: p.sitemaps}
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

// splitLine splits a comment-free line into key and value, trimmed.
func splitLine(line []byte) (key, value []byte, ok bool) {
	line = trimSpace(line)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		key, value = trimSpace(line[:i]), trimSpace(line[i+1:])
	} else {
		// Like the reference, accept "key value" for a forgotten colon, but
		// only when there are exactly two words, so prose is not misread.
		i := bytes.IndexAny(line, " \t\v\f")
		if i < 0 {
			return nil, nil, false
		}
		key, value = line[:i], trimSpace(line[i:])
		if bytes.ContainsAny(value, " \t\v\f") {
			return nil, nil, false
		}
	}
	return key, value, len(key) > 0
}

// productToken returns the product token a user-agent line names: its
// longest leading run of the characters RFC 9309 2.2.1 allows in one.
func productToken(value []byte) []byte {
	i := 0
	for i < len(value) {
		c := value[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			break
		}
		i++
	}
	return value[:i]
}

// parseDelay reads a Crawl-delay value: decimal seconds, possibly
// fractional. Signs, exponents, hex, "Inf" and "NaN", which ParseFloat would
// take, are not how anyone writes a delay.
func parseDelay(value []byte) (float64, bool) {
	digits, dots := 0, 0
	for _, c := range value {
		switch {
		case '0' <= c && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	d, err := strconv.ParseFloat(string(value), 64)
	return d, err == nil // a range error still gives +Inf, but err says so
}

// seconds converts a delay in seconds to a Duration, saturating.
func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	ns := s * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// skipBOM drops a UTF-8 byte order mark, or the first bytes of one, as the
// reference does: such files exist, and no key starts with those octets.
func skipBOM(b []byte) []byte {
	const bom = "\xEF\xBB\xBF"
	n := 0
	for n < len(bom) && n < len(b) && b[n] == bom[n] {
		n++
	}
	return b[n:]
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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' }

// trimSpace trims the whitespace RFC 9309 2.2 allows around keys and values
// (it names space and tab; vertical tab and form feed are as blank).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b and s are equal ignoring ASCII case. Unlike
// bytes.EqualFold it does not fold non-ASCII letters (the Kelvin sign is not
// a "k" in a product token).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
