package crawler

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html/charset"
)

// htmlType reports whether a response is an HTML document worth parsing: by
// its declared media type (or the sniffed one when the server declared none),
// and only if the body does not sniff as binary, whatever its label says.
func htmlType(contentType string, body []byte) bool {
	sniffed := http.DetectContentType(body)
	if contentType == "" {
		contentType = sniffed
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "text/html" && mediaType != "application/xhtml+xml" {
		return false
	}
	return strings.HasPrefix(sniffed, "text/") || strings.HasPrefix(sniffed, "application/xml") ||
		strings.HasPrefix(sniffed, "application/xhtml")
}

// page is what a crawler takes from an HTML document.
type page struct {
	links     []*url.URL // distinct link targets, in document order
	noindex   bool       // a robots meta tag asks that the page not be indexed
	nofollow  bool       // a robots meta tag asks that its links not be followed
	truncated bool       // links beyond the cap were left out
}

// parsePage returns the distinct absolute URLs that a[href] and area[href]
// point to, in document order, and the page's robots meta directives for
// agent (the crawler's product token). The body is decoded to UTF-8 by its
// declared or sniffed charset first, so non-ASCII targets come out correctly
// percent-encoded; links resolve against <base href> when the page has one.
// Links marked rel="nofollow" are left out unless followNofollow is set.
//
// At most maxLinks links are taken (0: no cap), so a page of a million
// anchors cannot flood the frontier.
func parsePage(pageURL *url.URL, contentType string, body []byte, agent string, followNofollow bool, maxLinks int) (page, error) {
	var r io.Reader = bytes.NewReader(body)
	if enc, name, _ := charset.DetermineEncoding(body, contentType); name != "utf-8" {
		r = enc.NewDecoder().Reader(r)
	}
	doc, err := goquery.NewDocumentFromReader(r)
	if err != nil {
		return page{}, fmt.Errorf("parse html: %w", err)
	}
	var p page
	doc.Find("meta[name][content]").Each(func(_ int, s *goquery.Selection) {
		name := strings.ToLower(strings.TrimSpace(s.AttrOr("name", "")))
		if name == "robots" || strings.EqualFold(name, agent) {
			noindex, nofollow := robotsDirectives(s.AttrOr("content", ""))
			p.noindex = p.noindex || noindex
			p.nofollow = p.nofollow || nofollow
		}
	})
	base := pageURL
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if u, err := pageURL.Parse(cleanHref(href)); err == nil {
			base = u
		}
	}
	seen := make(map[string]struct{})
	doc.Find("a[href], area[href]").EachWithBreak(func(_ int, s *goquery.Selection) bool {
		if maxLinks > 0 && len(p.links) >= maxLinks {
			p.truncated = true
			return false
		}
		href := cleanHref(s.AttrOr("href", ""))
		if href == "" || hasSkippedScheme(href) {
			return true
		}
		if !followNofollow && hasToken(s.AttrOr("rel", ""), "nofollow") {
			return true
		}
		u, err := base.Parse(href)
		if err != nil {
			return true
		}
		u.Fragment, u.RawFragment = "", ""
		key := u.String()
		if _, dup := seen[key]; dup {
			return true
		}
		seen[key] = struct{}{}
		p.links = append(p.links, u)
		return true
	})
	return p, nil
}

// robotsDirectives reads the comma-separated directives of a robots meta tag
// or X-Robots-Tag value: "none" means both noindex and nofollow.
func robotsDirectives(content string) (noindex, nofollow bool) {
	for d := range strings.SplitSeq(content, ",") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "noindex":
			noindex = true
		case "nofollow":
			nofollow = true
		case "none":
			noindex, nofollow = true, true
		}
	}
	return noindex, nofollow
}

// robotsTag reads X-Robots-Tag headers. A value may name the crawler it is
// for ("crawld: nofollow"); values for other crawlers are ignored.
func robotsTag(h http.Header, agent string) (noindex, nofollow bool) {
	for _, v := range h.Values("X-Robots-Tag") {
		if name, rest, ok := strings.Cut(v, ":"); ok && !strings.ContainsAny(name, ",") {
			// "unavailable_after: <date>" is a directive, not a crawler name.
			if n := strings.TrimSpace(name); !strings.EqualFold(n, "unavailable_after") {
				if !strings.EqualFold(n, agent) {
					continue
				}
				v = rest
			}
		}
		ni, nf := robotsDirectives(v)
		noindex, nofollow = noindex || ni, nofollow || nf
	}
	return noindex, nofollow
}

// hasToken reports whether the space-separated list has token, ignoring case.
func hasToken(list, token string) bool {
	for f := range strings.FieldsSeq(list) {
		if strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

// cleanHref strips what browsers strip from an href: surrounding whitespace
// and any tab or newline inside it (WHATWG URL parsing).
func cleanHref(href string) string {
	href = strings.TrimSpace(href)
	if strings.ContainsAny(href, "\t\n\r") {
		href = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, href)
	}
	return href
}

// hasSkippedScheme reports whether href is a link that is not a document to
// fetch (a script, a mail address, a phone number, inline data).
func hasSkippedScheme(href string) bool {
	i := strings.IndexByte(href, ':')
	if i < 0 {
		return false
	}
	switch strings.ToLower(href[:i]) {
	case "javascript", "mailto", "tel", "data":
		return true
	}
	return false
}
