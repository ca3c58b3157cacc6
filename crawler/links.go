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
// its declared media type, or by sniffing when the server declared none.
func htmlType(contentType string, body []byte) bool {
	if contentType == "" {
		contentType = http.DetectContentType(body)
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "text/html" || mediaType == "application/xhtml+xml"
}

// extractLinks returns the distinct absolute URLs that a[href] and area[href]
// point to, in document order. The body is decoded to UTF-8 by its declared or
// sniffed charset first, so non-ASCII targets come out correctly
// percent-encoded; links resolve against <base href> when the page has one.
func extractLinks(page *url.URL, contentType string, body []byte) ([]*url.URL, error) {
	var r io.Reader = bytes.NewReader(body)
	if enc, name, _ := charset.DetermineEncoding(body, contentType); name != "utf-8" {
		r = enc.NewDecoder().Reader(r)
	}
	doc, err := goquery.NewDocumentFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("parse html: %w", err)
	}
	base := page
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if u, err := page.Parse(cleanHref(href)); err == nil {
			base = u
		}
	}
	var links []*url.URL
	seen := make(map[string]struct{})
	doc.Find("a[href], area[href]").Each(func(_ int, s *goquery.Selection) {
		href := cleanHref(s.AttrOr("href", ""))
		if href == "" || hasSkippedScheme(href) {
			return
		}
		u, err := base.Parse(href)
		if err != nil {
			return
		}
		u.Fragment, u.RawFragment = "", ""
		key := u.String()
		if _, dup := seen[key]; dup {
			return
		}
		seen[key] = struct{}{}
		links = append(links, u)
	})
	return links, nil
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
