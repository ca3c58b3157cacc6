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
	"slices"
	"time"
	"unsafe"
)

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
