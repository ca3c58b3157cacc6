package crawler

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"

	"github.com/crawld/crawld/internal/testsite"
	"github.com/crawld/crawld/warc"
)

// archived is one record of a WARC file, read back.
type archived struct {
	file   string
	offset int64
	length int64 // up to the next record or the end of the file
	typ    gowarc.RecordType
	id     string
	h      gowarc.WarcFields
	block  []byte // the content block as stored
	// For request and response records: the HTTP message's first line
	// and header, and its payload.
	line    string
	header  http.Header
	payload []byte
}

func (a *archived) uri() string { return a.h.Get(gowarc.WarcTargetURI) }

// readArchive reads every record of every WARC file in dir under gowarc's
// strict validation, failing the test on any finding, and recomputes each
// record's block and payload digests, failing it if one differs from the
// one stored.
func readArchive(t *testing.T, dir string) []*archived {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var out []*archived
	for _, f := range files {
		if !strings.HasSuffix(f, ".warc.gz") {
			t.Errorf("%s: not a finished .warc.gz", f)
			continue
		}
		var inFile []*archived
		err := warc.Each(f, func(rec gowarc.WarcRecord, offset, _ int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s at %d (%s of %s): findings %v", filepath.Base(f), offset, rec.Type(), rec.WarcHeader().Get(gowarc.WarcTargetURI), findings)
			}
			raw, err := rec.Block().RawBytes()
			if err != nil {
				return err
			}
			block, err := io.ReadAll(raw)
			if err != nil {
				return err
			}
			a := &archived{file: filepath.Base(f), offset: offset, typ: rec.Type(), id: rec.RecordId(), h: *rec.WarcHeader(), block: block}
			if d := a.h.Get(gowarc.WarcBlockDigest); d != sha1Base32(block) {
				t.Errorf("%s of %s: block digest %s, recomputed %s", a.typ, a.uri(), d, sha1Base32(block))
			}
			if a.typ == gowarc.Request || a.typ == gowarc.Response {
				head, payload, ok := bytes.Cut(block, []byte("\r\n\r\n"))
				if !ok {
					t.Errorf("%s of %s: no end of the HTTP header", a.typ, a.uri())
				}
				line, fields, _ := strings.Cut(string(head)+"\r\n\r\n", "\r\n")
				mh, err := textprotoHeader(fields)
				if err != nil {
					t.Errorf("%s of %s: HTTP header: %v", a.typ, a.uri(), err)
				}
				a.line, a.header, a.payload = line, mh, payload
			}
			if d := a.h.Get(gowarc.WarcPayloadDigest); a.typ == gowarc.Response && d != sha1Base32(a.payload) {
				t.Errorf("response of %s: payload digest %s, recomputed %s", a.uri(), d, sha1Base32(a.payload))
			}
			if n := len(inFile); n > 0 {
				inFile[n-1].length = offset - inFile[n-1].offset
			}
			inFile = append(inFile, a)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(inFile); n > 0 {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			inFile[n-1].length = fi.Size() - inFile[n-1].offset
		}
		out = append(out, inFile...)
	}
	return out
}

// textprotoHeader parses HTTP header fields ending with an empty line.
func textprotoHeader(fields string) (http.Header, error) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n" + fields)))
	if err != nil {
		return nil, err
	}
	h := req.Header
	if req.Host != "" {
		h.Set("Host", req.Host)
	}
	if req.ContentLength > 0 { // ReadRequest takes Content-Length out of the header
		h.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	return h, nil
}

func sha1Base32(b []byte) string {
	sum := sha1.Sum(b)
	return "sha1:" + base32.StdEncoding.EncodeToString(sum[:])
}

// A crawl of the testsite's archival paths, and of an HTTPS host serving
// HTTP/2, with an archive, read back: no validation finding; digests
// recomputed equal; every response after its request; every page's
// response followed by its metadata record (outlinks, via); every record
// naming a response of its URL with its digest; robots.txt and sitemaps
// archived; each attempt of a retried 500 archived, the record naming the
// last; a body over max_body archived truncated; the stored payloads the
// bytes served (decoded from gzip, as the headers say); HTTP/2 exchanges
// written with HTTP/1.1 lines and WARC-Protocol h2.
func TestCrawl_ArchiveRoundTrip(t *testing.T) {
	site := startSite(t, testsite.Config{Hosts: 2, PagesPerHost: 4, Archival: true, Robots: "User-agent: *\nAllow: /\n"})
	h2Pages := map[string]string{
		"/":     `<a href="/h2/a">a</a> <a href="/h2/b">b</a>`,
		"/h2/a": "<p>HTTP/2 page a</p>",
		"/h2/b": "<p>HTTP/2 page b</p>",
		"/sitemap.xml": `<?xml version="1.0" encoding="UTF-8"?>` +
			`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>`,
	}
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := h2Pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, body)
	}))
	h2.EnableHTTP2 = true
	h2.StartTLS() // on 127.0.0.1: the test certificate names that address
	t.Cleanup(h2.Close)
	roots := x509.NewCertPool()
	roots.AddCert(h2.Certificate())

	cfg := testConfig(site.SeedURL(), h2.URL+"/")
	cfg.AllowDomains = append(site.Domains(), "127.0.0.1")
	cfg.MaxBody = 64 << 10
	cfg.MaxRetries = 2
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.Sitemaps = true
	dir, sink := crawlArchived(t, cfg, warc.Config{Node: "test", Compress: true, Software: "crawld/test"}, WithRootCAs(roots))

	recs := readArchive(t, dir)
	byID := make(map[string]*archived)
	byURL := make(map[string][]*archived) // responses and revisits
	for _, a := range recs {
		byID[a.id] = a
		if a.typ == gowarc.Response || a.typ == gowarc.Revisit {
			byURL[a.uri()] = append(byURL[a.uri()], a)
		}
	}
	for i, a := range recs {
		switch a.typ {
		case gowarc.Response:
			req := byID[a.h.GetId(gowarc.WarcConcurrentTo)]
			if req == nil || req.typ != gowarc.Request || req.uri() != a.uri() || req.file != a.file {
				t.Errorf("response of %s: not concurrent to a request of its URL in its file", a.uri())
			}
			if got, want := a.header.Get("Content-Length"), strconv.Itoa(len(a.payload)); got != want {
				t.Errorf("response of %s: Content-Length %q, payload of %s bytes", a.uri(), got, want)
			}
			if te := a.header.Get("Transfer-Encoding"); te != "" {
				t.Errorf("response of %s: Transfer-Encoding %q kept", a.uri(), te)
			}
			if ce := a.header.Get("Content-Encoding"); ce != "" {
				t.Errorf("response of %s: Content-Encoding %q, the payload is stored decoded", a.uri(), ce)
			}
			if !strings.HasPrefix(a.line, "HTTP/1.1 ") {
				t.Errorf("response of %s: status line %q", a.uri(), a.line)
			}
			if a.h.Get(gowarc.WarcIPAddress) == "" {
				t.Errorf("response of %s: no WARC-IP-Address", a.uri())
			}
		case gowarc.Metadata:
			resp := byID[a.h.GetId(gowarc.WarcConcurrentTo)]
			if resp == nil || resp.uri() != a.uri() || recs[i-1] != resp {
				t.Errorf("metadata of %s: not right after a response of its URL, concurrent to it", a.uri())
			}
			if ct := a.h.Get(gowarc.ContentType); ct != gowarc.ApplicationWarcFields {
				t.Errorf("metadata of %s: Content-Type %q", a.uri(), ct)
			}
		}
	}

	// Every record names a response (or revisit) of its final URL, with
	// its digest, at the offset and length it says.
	pages := sink.byURL(t)
	for _, r := range pages {
		a := recordAt(recs, r.WARCFile, r.WARCOffset)
		switch {
		case a == nil:
			t.Errorf("record of %s names %s:%d, where no record starts", r.URL, r.WARCFile, r.WARCOffset)
		case a.typ != gowarc.Response && a.typ != gowarc.Revisit, a.uri() != r.FinalURL, a.h.Get(gowarc.WarcPayloadDigest) != r.Digest:
			t.Errorf("record of %s (%s, %s) names a %s of %s (%s)", r.URL, r.FinalURL, r.Digest, a.typ, a.uri(), a.h.Get(gowarc.WarcPayloadDigest))
		case a.length != r.WARCLength:
			t.Errorf("record of %s: length %d, the record takes %d", r.URL, r.WARCLength, a.length)
		}
	}
	// The graph's pages, the archival pages (the redirect's target under
	// the redirect's record; the sitemap has none), the HTTP/2 pages.
	if want := 2*4 + 9 + 3; len(pages) != want {
		t.Errorf("%d records, want %d", len(pages), want)
	}

	// Every page's response has its metadata; the home page's lists its
	// links, the redirect's target the redirect.
	base := "http://" + site.Hosts()[0]
	for u := range pages {
		final := pages[u].FinalURL
		if m := metadataOf(recs, byURL[final]); m == nil {
			t.Errorf("no metadata record for %s", final)
		}
	}
	home := string(metadataOf(recs, byURL[site.SeedURL()]).block)
	for _, link := range append(site.Links(site.SeedURL()), base+testsite.ArchivalGzip, base+testsite.ArchivalSame2) {
		if !strings.Contains(home, "outlink: "+link+" L a/@href\r\n") {
			t.Errorf("home page metadata lists not %s:\n%s", link, home)
		}
	}
	if m := string(metadataOf(recs, byURL[base+testsite.ArchivalTarget]).block); !strings.Contains(m, "via: "+base+testsite.ArchivalRedirect+"\r\n") {
		t.Errorf("redirect target's metadata names not the redirect:\n%s", m)
	}
	// A page found as a link names, as via, the page it was found on,
	// whose metadata lists it; the seed and a page found only in a
	// sitemap name none.
	for _, u := range []string{site.SeedURL(), base + testsite.ArchivalListed} {
		if m := metadataOf(recs, byURL[u]); m != nil && strings.Contains(string(m.block), "via: ") {
			t.Errorf("the metadata of %s names a via:\n%s", u, m.block)
		}
	}
	for u := range pages {
		if u == site.SeedURL() || u == base+testsite.ArchivalListed || u == base+testsite.ArchivalRedirect || u == base+testsite.ArchivalTarget || strings.HasPrefix(u, h2.URL) {
			continue
		}
		m := metadataOf(recs, byURL[pages[u].FinalURL])
		if m == nil {
			continue // reported above
		}
		via, ok := metadataField(string(m.block), "via")
		if !ok {
			t.Errorf("metadata of %s names no via:\n%s", u, m.block)
			continue
		}
		if ref := metadataOf(recs, byURL[via]); ref == nil || !strings.Contains(string(ref.block), "outlink: "+u+" L a/@href\r\n") {
			t.Errorf("%s's via %s does not list it as an outlink", u, via)
		}
	}

	// robots.txt and sitemaps, of every host.
	for _, authority := range []string{base, "http://" + site.Hosts()[1], h2.URL} {
		for _, p := range []string{"/robots.txt", "/sitemap.xml"} {
			if len(byURL[authority+p]) != 1 {
				t.Errorf("%s%s archived %d times, want once", authority, p, len(byURL[authority+p]))
			}
		}
	}
	if got := byURL[base+testsite.ArchivalSitemap][0]; got.line != "HTTP/1.1 200 OK" {
		t.Errorf("host 0's sitemap archived as %q", got.line)
	}

	// Each of the 500's three attempts; the record names the last.
	errs := byURL[base+testsite.ArchivalError]
	if len(errs) != 1+cfg.MaxRetries {
		t.Errorf("the 500 archived %d times, want %d", len(errs), 1+cfg.MaxRetries)
	} else if r := pages[base+testsite.ArchivalError]; r.WARCOffset != errs[len(errs)-1].offset || !strings.Contains(r.Error, "giving up") {
		t.Errorf("the 500's record %+v names not its last attempt at %d", r, errs[len(errs)-1].offset)
	}

	// A body over max_body: what was read, marked truncated; the record
	// keeps its error.
	big := byURL[base+testsite.ArchivalBig]
	served, _ := site.Body(base + testsite.ArchivalBig)
	if len(big) != 1 || big[0].h.Get(gowarc.WarcTruncated) != "length" || !bytes.Equal(big[0].payload, served[:cfg.MaxBody]) {
		t.Errorf("the oversize body is archived as %d records, not once truncated to max_body", len(big))
	}
	if r := pages[base+testsite.ArchivalBig]; r.ErrorKind != kindBodyTooLarge || r.WARCFile == "" {
		t.Errorf("the oversize body's record %+v", r)
	}

	// The redirect, the 404, the gzip-coded and chunked pages.
	if r := byURL[base+testsite.ArchivalRedirect]; len(r) != 1 || r[0].line != "HTTP/1.1 302 Found" || r[0].header.Get("Location") != testsite.ArchivalTarget {
		t.Errorf("the redirect is not archived as one 302 to its target")
	}
	if r := byURL[base+testsite.ArchivalMissing]; len(r) != 1 || r[0].line != "HTTP/1.1 404 Not Found" {
		t.Errorf("the 404 is not archived once")
	}
	if r := byURL[base+testsite.ArchivalGzip]; len(r) != 1 || r[0].header.Get("X-Crawld-Decoded-Content-Encoding") != "gzip" {
		t.Errorf("the gzip-coded page's headers do not say it was decoded")
	}

	// Byte equality: every payload stored whole is what was served.
	checked := 0
	for u, as := range byURL {
		want, ok := site.Body(u)
		if p, found := strings.CutPrefix(u, h2.URL); found {
			want, ok = []byte(h2Pages[p]), h2Pages[p] != ""
		}
		for _, a := range as {
			if !ok || a.typ != gowarc.Response || a.h.Get(gowarc.WarcTruncated) != "" {
				continue
			}
			checked++
			if !bytes.Equal(a.payload, want) {
				t.Errorf("%s: stored %d bytes %q…, served %d", u, len(a.payload), firstBytes(a.payload), len(want))
			}
		}
	}
	if checked < len(pages) {
		t.Errorf("%d payloads compared with what was served, want at least %d", checked, len(pages))
	}

	// Two identical bodies: one stored, the other stored or a revisit.
	same1, same2 := byURL[base+testsite.ArchivalSame1], byURL[base+testsite.ArchivalSame2]
	if len(same1) != 1 || len(same2) != 1 || (same1[0].typ != gowarc.Response && same2[0].typ != gowarc.Response) ||
		pages[base+testsite.ArchivalSame1].Digest != pages[base+testsite.ArchivalSame2].Digest {
		t.Errorf("the identical bodies are not one response and one response or revisit of one digest")
	}

	// HTTP/2: HTTP/1.1 lines, WARC-Protocol h2.
	for u, as := range byURL {
		if !strings.HasPrefix(u, h2.URL) {
			if p := as[0].h.Get("WARC-Protocol"); p != "http/1.1" {
				t.Errorf("%s: WARC-Protocol %q, want http/1.1", u, p)
			}
			continue
		}
		for _, a := range as {
			req := byID[a.h.GetId(gowarc.WarcConcurrentTo)]
			if p := a.h.Get("WARC-Protocol"); p != "h2" || req == nil || !strings.HasSuffix(req.line, " HTTP/1.1") || req.header.Get("Host") == "" {
				line := "none"
				if req != nil {
					line = req.line
				}
				t.Errorf("%s over HTTP/2: WARC-Protocol %q, request line %q", u, p, line)
			}
		}
	}
}

// recordAt returns the record starting at offset in file, if any.
func recordAt(recs []*archived, file string, offset int64) *archived {
	for _, a := range recs {
		if a.file == file && a.offset == offset {
			return a
		}
	}
	return nil
}

// metadataOf returns the metadata record of the last of responses.
func metadataOf(recs []*archived, responses []*archived) *archived {
	if len(responses) == 0 {
		return nil
	}
	last := responses[len(responses)-1]
	i := slices.Index(recs, last)
	if i+1 < len(recs) && recs[i+1].typ == gowarc.Metadata && recs[i+1].h.GetId(gowarc.WarcConcurrentTo) == last.id {
		return recs[i+1]
	}
	return nil
}

// metadataField is the value of the first field name in a metadata
// record's block of WARC fields.
func metadataField(block, name string) (string, bool) {
	for line := range strings.SplitSeq(block, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v, true
		}
	}
	return "", false
}
