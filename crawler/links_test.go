package crawler

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

func TestParsePage_Links(t *testing.T) {
	page, _ := url.Parse("http://example.com/dir/page.html")
	sjis, err := japanese.ShiftJIS.NewEncoder().String(`<meta charset="shift_jis"><a href="/日本">x</a>`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		want        []string
	}{
		{
			name: "relative, root-relative, absolute and protocol-relative",
			body: `<a href="next.html">1</a><a href="../up">2</a><a href="/root">3</a>
				<a href="https://other.example/x">4</a><a href="//cdn.example/y">5</a>`,
			want: []string{"http://example.com/dir/next.html", "http://example.com/up", "http://example.com/root",
				"https://other.example/x", "http://cdn.example/y"},
		},
		{
			name: "base href",
			body: `<head><base href="/base/sub/"></head><a href="a">1</a><a href="../b">2</a>`,
			want: []string{"http://example.com/base/sub/a", "http://example.com/base/b"},
		},
		{
			name: "absolute base href on another host",
			body: `<base href="http://mirror.example/m/"><a href="a">1</a>`,
			want: []string{"http://mirror.example/m/a"},
		},
		{
			name: "area and a, fragments dropped, duplicates once",
			body: `<map><area href="/map"></map><a href="/x#top">1</a><a href="/x">2</a><a href="#only-fragment">3</a>`,
			want: []string{"http://example.com/map", "http://example.com/x", "http://example.com/dir/page.html"},
		},
		{
			name: "skipped schemes and empty hrefs",
			body: `<a href="javascript:void(0)">1</a><a href="MAILTO:a@b">2</a><a href="tel:+1">3</a>
				<a href="data:text/html,hi">4</a><a href="">5</a><a>6</a><a href=" /spaced ">7</a>`,
			want: []string{"http://example.com/spaced"},
		},
		{
			name: "tabs and newlines inside an href are dropped",
			body: "<a href=\"/wra\n\tpped\">1</a>",
			want: []string{"http://example.com/wrapped"},
		},
		{
			name:        "windows-1252 declared in the header",
			contentType: "text/html; charset=windows-1252",
			body:        "<a href=\"/caf\xe9\">1</a>",
			want:        []string{"http://example.com/caf%C3%A9"},
		},
		{
			name: "iso-8859-1 declared in a meta tag",
			body: "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"><a href=\"/na\xefve\">1</a>",
			want: []string{"http://example.com/na%C3%AFve"},
		},
		{
			name: "shift_jis declared in a meta tag",
			body: sjis,
			want: []string{"http://example.com/%E6%97%A5%E6%9C%AC"},
		},
		{
			name: "malformed html still yields its links",
			body: `<a href="/ok"><div><a href="/still-ok"`,
			want: []string{"http://example.com/ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePage(page, tt.contentType, []byte(tt.body), "crawld", false, 0)
			if err != nil {
				t.Fatalf("parsePage: %v", err)
			}
			var got []string
			for _, l := range p.links {
				got = append(got, l.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("links:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestHTMLType(t *testing.T) {
	tests := []struct {
		contentType, body string
		want              bool
	}{
		{"text/html; charset=utf-8", "", true},
		{"application/xhtml+xml", "", true},
		{"TEXT/HTML", "", true},
		{"application/pdf", "<html>", false},
		{"", "<!DOCTYPE html><html><body>sniffed</body></html>", true},
		{"", "%PDF-1.4 binary", false},
		{"text/plain", "<html>", false},
		{"text/html", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", false},
		{"text/html; charset=utf-8", "PK\x03\x04 a zip labelled as html", false},
		{"text/html", "\x00\x01\x02\x03 binary junk", false},
		{"text/html", "plain words, no tags at all", true},
	}
	for _, tt := range tests {
		if got := htmlType(tt.contentType, []byte(tt.body)); got != tt.want {
			t.Errorf("htmlType(%q, %q) = %v, want %v", tt.contentType, tt.body, got, tt.want)
		}
	}
}

func TestParsePage_RobotsDirectives(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	tests := []struct {
		name              string
		body              string
		followNofollow    bool
		noindex, nofollow bool
		links             int
	}{
		{name: "no directives", body: `<a href="/a">a</a>`, links: 1},
		{name: "robots nofollow", body: `<meta name="robots" content="nofollow"><a href="/a">a</a>`, nofollow: true, links: 1},
		{name: "robots none", body: `<meta name="ROBOTS" content="None">`, noindex: true, nofollow: true},
		{name: "our own name", body: `<meta name="crawld" content="noindex, follow">`, noindex: true},
		{name: "another crawler's name", body: `<meta name="googlebot" content="noindex,nofollow">`},
		{name: "rel nofollow skipped", body: `<a href="/a" rel="external NoFollow">a</a><a href="/b">b</a>`, links: 1},
		{name: "rel nofollow followed when asked", body: `<a href="/a" rel="nofollow">a</a>`, followNofollow: true, links: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePage(page, "text/html", []byte(tt.body), "crawld", tt.followNofollow, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.noindex != tt.noindex || p.nofollow != tt.nofollow || len(p.links) != tt.links {
				t.Errorf("got noindex=%v nofollow=%v links=%d; want %v %v %d", p.noindex, p.nofollow, len(p.links), tt.noindex, tt.nofollow, tt.links)
			}
		})
	}
}

func TestRobotsTag(t *testing.T) {
	tests := []struct {
		values            []string
		noindex, nofollow bool
	}{
		{nil, false, false},
		{[]string{"noindex"}, true, false},
		{[]string{"noindex, nofollow"}, true, true},
		{[]string{"none"}, true, true},
		{[]string{"googlebot: nofollow"}, false, false},
		{[]string{"CRAWLD: nofollow", "otherbot: noindex"}, false, true},
		{[]string{"unavailable_after: 25 Jun 2030 15:00:00 PST"}, false, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.values {
			h.Add("X-Robots-Tag", v)
		}
		if ni, nf := robotsTag(h, "crawld"); ni != tt.noindex || nf != tt.nofollow {
			t.Errorf("robotsTag(%q) = %v, %v; want %v, %v", tt.values, ni, nf, tt.noindex, tt.nofollow)
		}
	}
}

func TestParsePage_MaxLinks(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	body := strings.Repeat(`<a href="/x">x</a>`, 3) + `<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a>`
	p, err := parsePage(page, "text/html", []byte(body), "crawld", false, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.links) != 2 || !p.truncated || p.links[1].Path != "/a" {
		t.Errorf("links %v truncated %v; want /x and /a, truncated", p.links, p.truncated)
	}
}

// FuzzParsePage feeds arbitrary bytes, content types and page URLs to the
// link extractor: it must never panic, every link it returns must be an
// absolute URL without a fragment, no more than the cap, and it must find
// what the tree-based reference found (see compareWithDOM), also when it
// skips most tokens as too long.
func FuzzParsePage(f *testing.F) {
	f.Add("http://example.com/a/b", "text/html", []byte(`<base href="/x/"><a href="../y#f">y</a><area href="//h/z">`), 10)
	f.Add("https://example.com/", "text/html; charset=shift_jis", []byte("<a href=\"/\x93\xfa\">x</a>"), 0)
	f.Add("http://example.com/", "", []byte("<a href='javascript:alert(1)'>j</a><a href=' mailto:x'>m</a><a href=\"\t/t\n\">t</a>"), 5)
	f.Add("http://example.com/", "text/html; charset=bogus", []byte("<a href=\"http://[::1\">bad</a><a href=\"%zz\">bad</a>"), 1)
	f.Add("http://example.com/", "application/xhtml+xml", []byte("<?xml version=\"1.0\"?><html><body><a href=\"x\"/></body></html>"), 3)
	for _, body := range domFixtures {
		f.Add("http://example.com/d/", "text/html", []byte(body), 2)
	}
	f.Fuzz(func(t *testing.T, pageURL, contentType string, body []byte, maxLinks int) {
		page, err := url.Parse(pageURL)
		if err != nil || !page.IsAbs() {
			return
		}
		p, err := parsePage(page, contentType, body, "crawld", false, maxLinks)
		if err != nil {
			return
		}
		if maxLinks > 0 && len(p.links) > maxLinks {
			t.Fatalf("%d links, cap %d", len(p.links), maxLinks)
		}
		for _, l := range p.links {
			if !l.IsAbs() || l.Fragment != "" {
				t.Fatalf("link %q is not absolute or has a fragment", l)
			}
		}
		compareWithDOM(t, page, contentType, body, false, maxLinks)
		// With a tokenizer that holds 64 bytes, most tokens are skipped.
		if p, err = scanPage(page, contentType, body, "crawld", false, maxLinks, 64); err != nil {
			return
		}
		for _, l := range p.links {
			if !l.IsAbs() || l.Fragment != "" {
				t.Fatalf("skipping: link %q is not absolute or has a fragment", l)
			}
		}
	})
}

// tinyElements is a page of n bytes of the smallest elements, the page that
// costs a tree builder the most per byte: with one link at its end.
func tinyElements(n int) []byte {
	body := bytes.Repeat([]byte("<p>"), n/3)
	return append(body, `<a href="/end">end</a>`...)
}

// typicalPage is a page of Debian's python3-doc when it is installed
// (bench/compare.sh installs it), else a synthetic page of the same shape.
func typicalPage() []byte {
	body, err := os.ReadFile("/usr/share/doc/python3-doc/html/library/functions.html")
	if err == nil {
		return body
	}
	var sb strings.Builder
	sb.WriteString("<html><head><title>synthetic</title></head><body>")
	for i := range 600 {
		fmt.Fprintf(&sb, `<p>Paragraph %d with <a href="../ref/section-%d.html#anchor">a link</a> and text.</p>`, i, i%97)
	}
	sb.WriteString("</body></html>")
	return []byte(sb.String())
}

// TestParsePage_Memory: a 4 MiB page of tiny elements cost the tree
// builder about 160 MiB; one pass of the tokenizer allocates little more
// than its buffer, whatever the page's size.
func TestParsePage_Memory(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	body := tinyElements(4 << 20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, err := parsePage(page, "text/html", body, "crawld", false, 0)
	runtime.ReadMemStats(&after)
	if err != nil || len(p.links) != 1 {
		t.Fatalf("links %v, error %v; want /end", p.links, err)
	}
	// The bound is the body's size: the tree took 40 times that.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(body)) {
		t.Errorf("parsing %d bytes allocated %d bytes; want at most the body's size", len(body), alloc)
	}
}

// BenchmarkParsePage measures link extraction on a typical page and on a
// 4 MiB page of tiny elements; BenchmarkParsePageDOM the same with the
// tree-based reference (links_dom_test.go), for comparison.
func BenchmarkParsePage(b *testing.B) {
	benchmarkParse(b, func(u *url.URL, body []byte) (page, error) {
		return parsePage(u, "text/html; charset=utf-8", body, "crawld", false, 0)
	})
}

func BenchmarkParsePageDOM(b *testing.B) {
	benchmarkParse(b, func(u *url.URL, body []byte) (page, error) {
		p, _, err := parsePageDOM(u, "text/html; charset=utf-8", body, "crawld", false, 0)
		return p, err
	})
}

func benchmarkParse(b *testing.B, parse func(*url.URL, []byte) (page, error)) {
	page, _ := url.Parse("https://docs.python.org/3/library/functions.html")
	for _, bc := range []struct {
		name string
		body []byte
	}{{"typical", typicalPage()}, {"tiny-elements-4MiB", tinyElements(4 << 20)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			links := 0
			for b.Loop() {
				p, err := parse(page, bc.body)
				if err != nil {
					b.Fatal(err)
				}
				links = len(p.links)
			}
			b.ReportMetric(float64(links), "links/page")
		})
	}
}

// TestParsePage_LongToken: the tokenizer holds no token longer than
// maxToken (its buffer grew to 32 MiB for a 10 MiB token, and it allocated
// 64 MiB on the way); the rest of a longer one is skipped as the tokenizer
// would have read it, and the links after it are taken.
func TestParsePage_LongToken(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	long := strings.Repeat("x", 10<<20)
	for _, tt := range []struct {
		name, body, contentType string
	}{
		{"attribute", `<p title="` + long + `">`, "text/html"},
		{"attribute of a link", `<a data-x="` + long + `" href="/lost">`, "text/html"},
		{"script", `<script>` + long + `<a href="/in-script"></script>`, "text/html; charset=utf-8"},
		{"text", long, "text/html; charset=utf-8"},
		{"comment", `<!--` + long + `<a href="/in-comment">-->`, "text/html; charset=utf-8"},
		{"windows-1252", "<p title=\"\xe9" + long + `">`, "text/html; charset=windows-1252"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(`<a href="/before">` + tt.body + `<a href="/after">`)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, err := parsePage(page, tt.contentType, body, "crawld", false, 0)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("parsePage: %v", err)
			}
			var got []string
			for _, l := range p.links {
				got = append(got, l.Path)
			}
			if want := []string{"/before", "/after"}; !slices.Equal(got, want) {
				t.Errorf("links %q, want %q", got, want)
			}
			// A page in another charset is decoded whole, once, to skip
			// the token in.
			bound := uint64(8 * maxToken)
			if !strings.Contains(tt.contentType, "utf-8") {
				bound += uint64(3 * len(body))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
				t.Errorf("parsing %d bytes allocated %d bytes; want at most %d", len(body), alloc, bound)
			}
		})
	}
}

// TestSkipToken runs scanPage with a tokenizer that holds at most 16 bytes:
// each token longer than that is skipped as the tokenizer would read it.
func TestSkipToken(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	tests := []struct {
		name, body string
		want       []string
	}{
		{"text", `<a href=/1>` + strings.Repeat("t", 40) + `<a href=/2>`, []string{"/1", "/2"}},
		{"text with a lone <", `<a href=/1>` + strings.Repeat("t", 20) + `< ` + strings.Repeat("t", 20) + `<a href=/2>`, []string{"/1", "/2"}},
		{"comment", `<!-- <a href=/in> ` + strings.Repeat("-", 20) + ` --><a href=/2>`, []string{"/2"}},
		{"doctype", `<!DOCTYPE html ` + strings.Repeat("d", 20) + `><a href=/2>`, []string{"/2"}},
		{"processing instruction", `<?xml ` + strings.Repeat("p", 20) + `?><a href=/2>`, []string{"/2"}},
		{"end tag", `</div ` + strings.Repeat("e", 20) + `><a href=/2>`, []string{"/2"}},
		{"quoted > in a tag", `<p title="> <a href=/in>` + strings.Repeat("q", 20) + `" x='>'><a href=/2>`, []string{"/2"}},
		{"unquoted value", `<p title=` + strings.Repeat("u", 20) + `><a href=/2>`, []string{"/2"}},
		{"link tag lost", `<a href=/lost title="` + strings.Repeat("l", 20) + `"><a href=/2>`, []string{"/2"}},
		{"script", `<script>` + strings.Repeat("s", 20) + `"<a href=/in></scriptx>"</SCRIPT ><a href=/2>`, []string{"/2"}},
		{"long script tag", `<script src="` + strings.Repeat("s", 20) + `"><a href=/in></script><a href=/2>`, []string{"/2"}},
		{"textarea", `<textarea>` + strings.Repeat("t", 20) + `<a href=/in></textarea><a href=/2>`, []string{"/2"}},
		{"plaintext", `<a href=/1><plaintext>` + strings.Repeat("p", 20) + `<a href=/in>`, []string{"/1"}},
		{"unterminated comment", `<a href=/1><!--` + strings.Repeat("c", 20) + `<a href=/in>`, []string{"/1"}},
		{"text to the end", `<a href=/1>` + strings.Repeat("t", 40), []string{"/1"}},
		{"doctype to the end", `<a href=/1><!doctype ` + strings.Repeat("d", 20), []string{"/1"}},
		{"empty script, long end tag", `<script></script ` + strings.Repeat("e", 20) + `><a href=/2>`, []string{"/2"}},
		{"unterminated quote", `<a href=/1><p title="` + strings.Repeat("c", 20) + `><a href=/in>`, []string{"/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ct := range []string{"text/html; charset=utf-8", "text/html; charset=windows-1252"} {
				p, err := scanPage(page, ct, []byte(tt.body), "crawld", false, 0, 16)
				if err != nil {
					t.Fatalf("scanPage: %v", err)
				}
				var got []string
				for _, l := range p.links {
					got = append(got, l.Path)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: links %q, want %q", ct, got, tt.want)
				}
			}
		})
	}
}

// TestParsePage_LateBase: links resolve against a <base href> that follows
// them, and a page of hundreds of thousands of them, the base last, is read
// in bounded memory: the page is read up to its base first, rather than its
// links kept until the base comes.
func TestParsePage_LateBase(t *testing.T) {
	page, _ := url.Parse("http://example.com/")
	var sb strings.Builder
	for i := 0; sb.Len() < 4<<20; i++ {
		fmt.Fprintf(&sb, `<a href="%d">`, i)
	}
	sb.WriteString(`<base href="/late/">`)
	body := []byte(sb.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, err := parsePage(page, "text/html; charset=utf-8", body, "crawld", false, 1000)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("parsePage: %v", err)
	}
	if len(p.links) != 1000 || !p.truncated || p.links[999].Path != "/late/999" {
		t.Fatalf("%d links (truncated %v), the last %v; want 1000 up to /late/999, truncated", len(p.links), p.truncated, p.links[len(p.links)-1])
	}
	// The tokenizer allocates a few bytes of garbage for each attribute it
	// reads, in each of the two passes (twice as many with -race); links
	// held until the base came took 16 times the body.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(8*len(body)) {
		t.Errorf("parsing %d bytes allocated %d bytes; want at most 8 times that", len(body), alloc)
	}
}
