package robots

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"time"
)

// MaxSize is how much of a robots.txt is parsed (RFC 9309 2.5: at least 500
// KiB); callers read at most this much, Parse ignores anything beyond it.
const MaxSize = 500 << 10

// maxLineLen is the longest line the reference implementation keeps
// (kMaxLineLen - 1 in Google's robots.cc); the rest of a longer line is
// dropped there, and here, so that both read such a file alike.
const maxLineLen = 2083*8 - 1

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
