package testsite

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// With Archival, host 0 answers each archival path as documented (chunked,
// gzip-coded, a redirect, a 404, a 500, an oversize body, two identical
// bodies, a sitemap listing a page), its home page links to them, Links
// is the same graph as without, and Body is what a client reads there.
func TestArchival(t *testing.T) {
	s := start(t, Config{Hosts: 2, Archival: true, Robots: "User-agent: *\nAllow: /\n"})
	plainSite := start(t, Config{Hosts: 2})
	c := newClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := "http://" + s.Hosts()[0]

	_, home := get(t, c, s.SeedURL())
	for _, p := range archivalLinks {
		if !slices.Contains(hrefs(t, home), p) {
			t.Errorf("home page links not to %s", p)
		}
	}
	for h := range 2 {
		for k := range 10 {
			if got, want := len(s.Links(s.PageURL(h, k))), len(plainSite.Links(plainSite.PageURL(h, k))); got != want {
				t.Errorf("page %d/%d: %d links, %d without Archival", h, k, got, want)
			}
		}
	}

	want := map[string]int{
		ArchivalChunked: 200, ArchivalGzip: 200, ArchivalRedirect: 302, ArchivalTarget: 200, ArchivalMissing: 404,
		ArchivalError: 500, ArchivalBig: 200, ArchivalSame1: 200, ArchivalSame2: 200, ArchivalListed: 200, ArchivalSitemap: 200,
	}
	urls := s.ArchivalURLs()
	if len(urls) != len(want) {
		t.Errorf("ArchivalURLs() = %v, want the %d paths", urls, len(want))
	}
	for _, u := range append(urls, s.SeedURL(), s.PageURL(1, 3), base+"/robots.txt") {
		resp, got := get(t, c, u)
		path := strings.TrimPrefix(u, base)
		if status, ok := want[path]; ok && resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, status)
		}
		body, ok := s.Body(u)
		if !ok || string(body) != got {
			t.Errorf("%s: Body() = %d bytes (%v), the client read %d", u, len(body), ok, len(got))
		}
		switch path {
		case ArchivalChunked:
			if resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
				t.Errorf("chunked: length %d, transfer encoding %v", resp.ContentLength, resp.TransferEncoding)
			}
		case ArchivalGzip:
			if !resp.Uncompressed {
				t.Error("gzip: the client took no gzip coding off")
			}
		case ArchivalRedirect:
			if loc := resp.Header.Get("Location"); loc != ArchivalTarget {
				t.Errorf("redirect to %q", loc)
			}
		case ArchivalBig:
			if len(got) != ArchivalBigSize {
				t.Errorf("big: %d bytes, want %d", len(got), ArchivalBigSize)
			}
		case ArchivalSitemap:
			if !strings.Contains(got, "<loc>"+base+ArchivalListed+"</loc>") {
				t.Errorf("sitemap lists not %s: %s", ArchivalListed, got)
			}
		}
	}
	same1, _ := s.Body(base + ArchivalSame1)
	same2, _ := s.Body(base + ArchivalSame2)
	if string(same1) != string(same2) {
		t.Error("the two identical bodies differ")
	}
	for _, u := range []string{"http://" + s.Hosts()[1] + ArchivalChunked, base + "/nowhere", "https://" + s.Hosts()[0] + "/"} {
		if _, ok := s.Body(u); ok {
			t.Errorf("Body(%s) found", u)
		}
	}
	if plainSite.ArchivalURLs() != nil {
		t.Error("ArchivalURLs without Archival")
	}
	resp, _ := get(t, c, "http://"+plainSite.Hosts()[0]+ArchivalChunked)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without Archival, %s answers %d", ArchivalChunked, resp.StatusCode)
	}
}
