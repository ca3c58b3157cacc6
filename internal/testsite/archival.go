package testsite

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The paths Config.Archival adds to host 0, each answered in a way a web
// archive must keep faithfully. Host 0's home page links to all of them
// but ArchivalListed and ArchivalTarget (Links does not list them).
const (
	ArchivalChunked  = "/archival/chunked"  // an HTML page sent in chunks, with no Content-Length
	ArchivalGzip     = "/archival/gzip"     // an HTML page gzip-coded for a client accepting gzip
	ArchivalRedirect = "/archival/redirect" // 302 to ArchivalTarget
	ArchivalTarget   = "/archival/target"   // an HTML page, the redirect's target
	ArchivalMissing  = "/archival/missing"  // 404 with an HTML body
	ArchivalError    = "/archival/error"    // 500 with an HTML body, every time
	ArchivalBig      = "/archival/big"      // ArchivalBigSize bytes of text
	ArchivalSame1    = "/archival/same/1"   // the same bytes as ArchivalSame2
	ArchivalSame2    = "/archival/same/2"   // the same bytes as ArchivalSame1
	ArchivalListed   = "/archival/listed"   // an HTML page found only in host 0's /sitemap.xml
	// ArchivalSitemap is host 0's sitemap, listing ArchivalListed.
	ArchivalSitemap = "/sitemap.xml"
)

// ArchivalBigSize is the length of ArchivalBig's body: more than a crawler
// limiting bodies to 64 KiB reads.
const ArchivalBigSize = 256 << 10

// archivalLinks are the paths host 0's home page links to with Archival.
var archivalLinks = []string{ArchivalChunked, ArchivalGzip, ArchivalRedirect, ArchivalMissing,
	ArchivalError, ArchivalBig, ArchivalSame1, ArchivalSame2}

// ArchivalURLs returns the URL of every path Config.Archival adds (sitemap
// included), or nil without it.
func (s *Site) ArchivalURLs() []string {
	if !s.cfg.Archival {
		return nil
	}
	var urls []string
	for _, p := range append(append([]string(nil), archivalLinks...), ArchivalTarget, ArchivalListed, ArchivalSitemap) {
		urls = append(urls, "http://"+s.hosts[0]+p)
	}
	return urls
}

// coding is how an archival response's body is sent.
type coding int

const (
	plain   coding = iota // with a Content-Length
	chunked               // in several writes, flushed, with no Content-Length
	gzipped               // gzip-coded if the client accepts it
)

// archivalResponse is what the site answers on an archival path.
type archivalResponse struct {
	status      int
	contentType string
	location    string
	body        string
	coding      coding
}

// archivalPage is a small HTML page without links.
func archivalPage(title string, filler int) string {
	return "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>\n<body>\n<h1>" + title + "</h1>\n" +
		strings.Repeat("<p>"+title+" text for a web archive round trip.</p>\n", filler) + "</body></html>\n"
}

// archival returns what host h answers on path with Config.Archival, and
// whether path is one of the archival paths.
func (s *Site) archival(h int, path string) (archivalResponse, bool) {
	if !s.cfg.Archival || h != 0 {
		return archivalResponse{}, false
	}
	const html = "text/html; charset=utf-8"
	switch path {
	case ArchivalChunked:
		return archivalResponse{status: http.StatusOK, contentType: html, body: archivalPage("Chunked", 400), coding: chunked}, true
	case ArchivalGzip:
		return archivalResponse{status: http.StatusOK, contentType: html, body: archivalPage("Gzip", 200), coding: gzipped}, true
	case ArchivalRedirect:
		return archivalResponse{status: http.StatusFound, contentType: html, location: ArchivalTarget,
			body: "<a href=\"" + ArchivalTarget + "\">Found</a>.\n"}, true
	case ArchivalTarget:
		return archivalResponse{status: http.StatusOK, contentType: html, body: archivalPage("Target", 3)}, true
	case ArchivalMissing:
		return archivalResponse{status: http.StatusNotFound, contentType: html, body: archivalPage("Missing", 1)}, true
	case ArchivalError:
		return archivalResponse{status: http.StatusInternalServerError, contentType: html, body: archivalPage("Error", 1)}, true
	case ArchivalBig:
		return archivalResponse{status: http.StatusOK, contentType: "text/plain; charset=utf-8",
			body: strings.Repeat("0123456789abcdef", ArchivalBigSize/16)}, true
	case ArchivalSame1, ArchivalSame2:
		return archivalResponse{status: http.StatusOK, contentType: html, body: archivalPage("Same", 10)}, true
	case ArchivalListed:
		return archivalResponse{status: http.StatusOK, contentType: html, body: archivalPage("Listed", 3)}, true
	case ArchivalSitemap:
		return archivalResponse{status: http.StatusOK, contentType: "application/xml",
			body: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://` +
				s.hosts[0] + ArchivalListed + "</loc></url></urlset>\n"}, true
	}
	return archivalResponse{}, false
}

// serveArchival answers r if it asks for an archival path of host h, and
// reports whether it did.
func (s *Site) serveArchival(w http.ResponseWriter, r *http.Request, h int) bool {
	a, ok := s.archival(h, r.URL.Path)
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", a.contentType)
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	switch {
	case a.coding == chunked:
		w.WriteHeader(a.status)
		third := len(a.body) / 3
		for _, part := range []string{a.body[:third], a.body[third : 2*third], a.body[2*third:]} {
			_, _ = io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
	case a.coding == gzipped && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"):
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Vary", "Accept-Encoding")
		w.WriteHeader(a.status)
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, a.body)
		_ = zw.Close()
	default:
		w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}
	return true
}

// Body returns the entity body the site serves at rawURL (a gzip-coded
// one as it is before coding), for a page, robots.txt when Config.Robots
// is set, the decoy PDF and the Config.Archival paths; ok is false for any
// other URL.
func (s *Site) Body(rawURL string) (body []byte, ok bool) {
	if p, ok := s.lookup(rawURL); ok {
		return fmt.Appendf(nil, "%s%s%s", s.render(p), s.padding, pageEnd), true
	}
	h, path, ok := s.hostPath(rawURL)
	if !ok {
		return nil, false
	}
	if a, ok := s.archival(h, path); ok {
		return []byte(a.body), true
	}
	switch {
	case path == "/robots.txt" && s.cfg.Robots != "":
		return []byte(s.cfg.Robots), true
	case path == DecoyPDFPath:
		return []byte(fakePDF), true
	}
	return nil, false
}
