package warc

import (
	"net/url"
	"slices"
	"strings"
)

// dropWWW drops the www, www2, … label from the host of an http or https
// URL, as warcio.js's /^(https?:\/\/)www\d*\./ does: before the URL is
// lower-cased, so "WWW." stays.
func dropWWW(raw string) string {
	scheme := "http://"
	if strings.HasPrefix(raw, "https://") {
		scheme = "https://"
	} else if !strings.HasPrefix(raw, scheme) {
		return raw
	}
	rest := raw[len(scheme):]
	if !strings.HasPrefix(rest, "www") {
		return raw
	}
	i := len("www")
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i < len(rest) && rest[i] == '.' {
		return scheme + rest[i+1:]
	}
	return raw
}

// SURT returns the sort-friendly key of an http or https URL that CDXJ
// indexes are sorted and searched by: the host's labels reversed and
// joined by commas, a port other than the scheme's default, ")", the
// path ("/" if empty) and the query's arguments sorted, all lower-cased,
// without the scheme, a leading www label or the fragment:
// "http://www.Example.com:8080/A?b=1&a=2" is "com,example:8080)/a?a=2&b=1".
// Other URLs, and URLs that do not parse, are returned as given.
//
// It is the key warcio.js's indexer writes and ReplayWeb.page (wabac.js)
// computes to look a URL up in a WACZ, and the key pywb's Python surt
// writes for the URLs crawld fetches (already normalised by the filter:
// dot segments resolved, escapes in one case). The Python canonicaliser
// goes further on other URLs, and there the two readers disagree; crawld
// follows warcio.js, the reader its CDXJ is tested against: a trailing
// slash is kept ("/a/", where Python writes "/a"), and session ids in
// paths and queries are not stripped.
func SURT(raw string) string {
	if !strings.HasPrefix(raw, "https:") && !strings.HasPrefix(raw, "http:") {
		return raw
	}
	massaged := dropWWW(raw)
	u, err := url.Parse(strings.ToLower(massaged))
	if err != nil || u.Host == "" {
		return massaged
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6, in brackets as in the URL
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := len(host); i >= 0; {
		label := strings.LastIndexByte(host[:i], '.')
		b.WriteString(host[label+1 : i])
		if label >= 0 {
			b.WriteByte(',')
		}
		i = label
	}
	if port := u.Port(); port != "" && (u.Scheme != "http" || port != "80") && (u.Scheme != "https" || port != "443") {
		b.WriteString(":" + port)
	}
	b.WriteString(")")
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	if u.RawQuery != "" {
		args := strings.Split(u.RawQuery, "&")
		slices.Sort(args)
		b.WriteString("?" + strings.Join(args, "&"))
	}
	return b.String()
}
