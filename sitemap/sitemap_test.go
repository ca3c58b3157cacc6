package sitemap

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// urlset builds a urlset listing urls, each with the optional elements real
// sitemaps carry, so that skipping them is exercised too.
func urlset(urls []string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "<url><loc>%s</loc><lastmod>2024-01-02</lastmod><changefreq>daily</changefreq><priority>0.5</priority></url>\n", u)
	}
	b.WriteString("</urlset>\n")
	return b.Bytes()
}

func pages(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://example.com/page/%d", i)
	}
	return urls
}

const (
	nsURLSet = `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.com/</loc><lastmod>2024-01-01</lastmod><changefreq>daily</changefreq><priority>1.0</priority></url>
  <url><loc>https://example.com/about</loc></url>
</urlset>`
	index = xmlHeader + `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/sitemap-1.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc>https://example.com/sitemap-2.xml</loc></sitemap>
</sitemapindex>`
)

func TestParse(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		gzip         bool
		limit        int64
		wantURLs     []string
		wantSitemaps []string
		wantErr      string // substring of the error; "" means no error
	}{
		{
			name:     "urlset with namespace",
			in:       xmlHeader + nsURLSet,
			wantURLs: []string{"https://example.com/", "https://example.com/about"},
		},
		{
			name:     "urlset without namespace or declaration",
			in:       `<urlset><url><loc>https://example.com/a</loc></url><url><loc>https://example.com/b</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a", "https://example.com/b"},
		},
		{
			name: "urlset with prefix",
			in: xmlHeader + `<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sm:url><sm:loc>https://example.com/a</sm:loc></sm:url>
</sm:urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "urlset with undeclared prefix",
			in:       `<sm:urlset><sm:url><sm:loc>https://example.com/a</sm:loc></sm:url></sm:urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name: "extension elements skipped",
			in: xmlHeader + `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
  xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
  xmlns:xhtml="http://www.w3.org/1999/xhtml"
  xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
  xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">
  <url>
    <loc>https://example.com/page</loc>
    <image:image><image:loc>https://example.com/img.jpg</image:loc></image:image>
    <xhtml:link rel="alternate" hreflang="de" href="https://example.com/de/page"/>
    <news:news><news:publication><news:name>X</news:name></news:publication><news:title>T</news:title></news:news>
    <video:video><video:content_loc>https://example.com/v.mp4</video:content_loc><video:player_loc>https://example.com/p</video:player_loc></video:video>
  </url>
  <url><image:image><image:loc>https://example.com/only-image.jpg</image:loc></image:image></url>
</urlset>`,
			wantURLs: []string{"https://example.com/page"},
		},
		{
			name:         "sitemapindex",
			in:           index,
			wantSitemaps: []string{"https://example.com/sitemap-1.xml.gz", "https://example.com/sitemap-2.xml"},
		},
		{
			name:     "gzip urlset",
			in:       xmlHeader + nsURLSet,
			gzip:     true,
			wantURLs: []string{"https://example.com/", "https://example.com/about"},
		},
		{
			name:         "gzip sitemapindex",
			in:           index,
			gzip:         true,
			wantSitemaps: []string{"https://example.com/sitemap-1.xml.gz", "https://example.com/sitemap-2.xml"},
		},
		{
			name: "entities and CDATA",
			in: `<urlset><url><loc>https://example.com/?a=1&amp;b=2&#38;c=&#x33;</loc></url>` +
				`<url><loc><![CDATA[https://example.com/?x=1&y=2]]></loc></url></urlset>`,
			wantURLs: []string{"https://example.com/?a=1&b=2&c=3", "https://example.com/?x=1&y=2"},
		},
		{
			name:     "bare ampersand kept as written",
			in:       `<urlset><url><loc>https://example.com/?a=1&b=2</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/?a=1&b=2"},
		},
		{
			name:     "whitespace around loc",
			in:       "<urlset><url><loc>\n\t  https://example.com/a \r\n</loc></url><url>\n<loc> https://example.com/b</loc>\n</url></urlset>",
			wantURLs: []string{"https://example.com/a", "https://example.com/b"},
		},
		{
			name:     "empty loc skipped",
			in:       "<urlset><url><loc></loc></url><url><loc> \n </loc></url><url><loc/></url><url><loc>https://example.com/a</loc></url></urlset>",
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "entries of the other kind ignored",
			in:       `<urlset><sitemap><loc>https://example.com/s.xml</loc></sitemap><url><loc>https://example.com/a</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "loc not directly under url ignored",
			in:       `<urlset><loc>https://example.com/x</loc><url><loc>https://example.com/a<b>c</b></loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "BOM, comments and doctype before root",
			in:       "\ufeff\n" + xmlHeader + `<!-- generated --><!DOCTYPE urlset><urlset><url><loc>https://example.com/a</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "content after root not read",
			in:       `<urlset><url><loc>https://example.com/a</loc></url></urlset><html>junk`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:    "non-sitemap root",
			in:      "<!DOCTYPE html>\n<html><body><a href=\"https://example.com/\">x</a></body></html>",
			wantErr: "sitemap: not a sitemap (root <html>)",
		},
		{
			name:    "RSS root",
			in:      xmlHeader + `<rss version="2.0"><channel><link>https://example.com/</link></channel></rss>`,
			wantErr: "sitemap: not a sitemap (root <rss>)",
		},
		{
			name:    "no root element",
			in:      xmlHeader + "<!-- nothing -->",
			wantErr: "sitemap: no root element",
		},
		{
			name:     "malformed XML keeps what came before",
			in:       `<urlset><url><loc>https://example.com/a</loc></url><url>< loc>https://example.com/b</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a"},
			wantErr:  "sitemap: XML syntax error",
		},
		{
			// Non-strict decoding repairs a mismatched end tag by closing
			// the open element, as browsers do.
			name:     "mismatched end tag repaired",
			in:       `<urlset><url><loc>https://example.com/a</loc></url><url><loc>https://example.com/b</url></urlset>`,
			wantURLs: []string{"https://example.com/a", "https://example.com/b"},
		},
		{
			name:     "truncated XML keeps what came before",
			in:       `<urlset><url><loc>https://example.com/a</loc></url><url><loc>https://example.com/b`,
			wantURLs: []string{"https://example.com/a"},
			wantErr:  "unexpected EOF",
		},
		{
			name:     "ISO-8859-1",
			in:       "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<urlset><url><loc>https://example.com/caf\xe9?x=\xff</loc></url></urlset>",
			wantURLs: []string{"https://example.com/café?x=ÿ"},
		},
		{
			name:     "US-ASCII",
			in:       `<?xml version="1.0" encoding="us-ascii"?><urlset><url><loc>https://example.com/a</loc></url></urlset>`,
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:    "unsupported encoding",
			in:      `<?xml version="1.0" encoding="Shift_JIS"?><urlset><url><loc>https://example.com/a</loc></url></urlset>`,
			wantErr: "sitemap: unsupported encoding Shift_JIS",
		},
		{
			name:     "nested as deep as allowed",
			in:       "<urlset><url><loc>https://example.com/a</loc>" + strings.Repeat("<x>", MaxDepth-2) + "</url></urlset>",
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "nested too deep",
			in:       "<urlset><url><loc>https://example.com/a</loc></url><url>" + strings.Repeat("<x>", MaxDepth-1) + "</url></urlset>",
			wantURLs: []string{"https://example.com/a"},
			wantErr:  "sitemap: elements nested too deep (more than 16)",
		},
		{
			name: "white space not counted in a token",
			in: "<urlset" + strings.Repeat(" ", 2*maxToken) + "><url><loc>https://example.com/a</loc></url>" +
				strings.Repeat("\n", 2*maxToken) + "</urlset>",
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name:     "text token too long",
			in:       "<urlset><url><loc>https://example.com/a</loc></url><url><x>" + strings.Repeat("y", maxToken+1) + "</x></url></urlset>",
			wantURLs: []string{"https://example.com/a"},
			wantErr:  "sitemap: XML token longer than 65536 bytes",
		},
		{
			// Decoded, each byte 0xe9 takes two.
			name: "ISO-8859-1 token too long",
			in: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<urlset><url><loc>https://example.com/a</loc></url><url><x>" +
				strings.Repeat("\xe9", maxToken/2+1) + "</x></url></urlset>",
			wantURLs: []string{"https://example.com/a"},
			wantErr:  "sitemap: XML token longer than 65536 bytes",
		},
		{
			name: "overlong loc skipped",
			in: "<urlset><url><loc>https://example.com/" + strings.Repeat("x", maxToken/2) + "<!---->" + strings.Repeat("x", maxToken/2) +
				"</loc></url><url><loc>https://example.com/a</loc></url></urlset>",
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name: "plain text",
			in: "\ufeff\n  https://example.com/a  \r\n\r\nhttp://example.com/b\n# comment\nftp://example.com/c\n" +
				"example.com/d\nHTTPS://example.com/e\nhttps://example.com/f",
			wantURLs: []string{"https://example.com/a", "http://example.com/b", "HTTPS://example.com/e", "https://example.com/f"},
		},
		{
			name:     "gzip plain text",
			in:       "https://example.com/a\nhttps://example.com/b\n",
			gzip:     true,
			wantURLs: []string{"https://example.com/a", "https://example.com/b"},
		},
		{
			name:     "plain text skips overlong line",
			in:       "https://example.com/" + strings.Repeat("x", 100<<10) + "\nhttps://example.com/a\n",
			wantURLs: []string{"https://example.com/a"},
		},
		{
			name: "empty body",
			in:   "",
		},
		{
			name: "whitespace body",
			in:   " \n\t\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			if tt.gzip {
				in = gz(t, in)
			}
			got, err := Parse(bytes.NewReader(in), tt.limit)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got.URLs, tt.wantURLs) {
				t.Errorf("URLs: got %q, want %q", got.URLs, tt.wantURLs)
			}
			if !reflect.DeepEqual(got.Sitemaps, tt.wantSitemaps) {
				t.Errorf("Sitemaps: got %q, want %q", got.Sitemaps, tt.wantSitemaps)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error: got %v, want nil", err)
	case want != "" && err == nil:
		t.Errorf("error: got nil, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error: got %q, want one containing %q", err, want)
	}
}

func TestParseLimit(t *testing.T) {
	all := pages(50)
	doc := urlset(all)
	// The URLs whose </loc> ends within the limit are the ones a parser
	// stopped at the limit can have seen whole.
	fitting := func(limit int) []string {
		var urls []string
		off := 0
		for _, u := range all {
			i := bytes.Index(doc[off:], []byte(u+"</loc>"))
			end := off + i + len(u) + len("</loc>")
			if end > limit {
				break
			}
			urls = append(urls, u)
			off = end
		}
		return urls
	}
	tests := []struct {
		name     string
		in       []byte
		limit    int64
		wantURLs []string
		wantErr  error
	}{
		{"few hundred bytes", doc, 400, fitting(400), ErrTooLarge},
		{"gzip few hundred bytes", gz(t, doc), 400, fitting(400), ErrTooLarge},
		{"exactly the document", doc, int64(len(doc)), all, nil},
		// The root's end tag is cut, so the document cannot be complete.
		{"one byte short", doc, int64(len(doc) - 2), all, ErrTooLarge},
		{"limit above MaxSize means MaxSize", doc, MaxSize + 1, all, nil},
		{"negative limit means MaxSize", doc, -1, all, nil},
		{"plain text", []byte("https://example.com/a\nhttps://example.com/b\nhttps://example.com/c\n"), 30,
			[]string{"https://example.com/a"}, ErrTooLarge},
		{"plain text cut mid-line", []byte("https://example.com/a\nhttps://example.com/bbbbbbb\n"), 40,
			[]string{"https://example.com/a"}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(bytes.NewReader(tt.in), tt.limit)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("error: got %v, want %v", err, tt.wantErr)
			}
			if len(tt.wantURLs) == 0 {
				t.Fatal("bad test: no URLs expected to fit")
			}
			if !reflect.DeepEqual(got.URLs, tt.wantURLs) {
				t.Errorf("URLs: got %d %q, want %d %q", len(got.URLs), got.URLs, len(tt.wantURLs), tt.wantURLs)
			}
		})
	}
}

func TestParseTooManyURLs(t *testing.T) {
	all := pages(MaxURLs + 5)
	tests := []struct {
		name string
		in   []byte
	}{
		{"urlset", urlset(all)},
		{"plain text", []byte(strings.Join(all, "\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(bytes.NewReader(tt.in), 0)
			if !errors.Is(err, ErrTooManyURLs) {
				t.Errorf("error: got %v, want %v", err, ErrTooManyURLs)
			}
			if !reflect.DeepEqual(got.URLs, all[:MaxURLs]) {
				t.Errorf("URLs: got %d, want the first %d", len(got.URLs), MaxURLs)
			}
		})
	}
	// MaxURLs exactly is allowed.
	got, err := Parse(bytes.NewReader(urlset(all[:MaxURLs])), 0)
	if err != nil || len(got.URLs) != MaxURLs {
		t.Errorf("MaxURLs entries: got %d, %v; want %d, nil", len(got.URLs), err, MaxURLs)
	}
}

// TestParseGzipBomb feeds a gzip stream that would inflate to 200 MiB,
// compressed on the fly so neither form is ever held whole, and checks that
// Parse stops at the limit instead of inflating the rest.
func TestParseGzipBomb(t *testing.T) {
	const bombSize = 200 << 20
	tests := []struct {
		name   string
		prefix string
		fill   byte
		limit  int64
	}{
		{"XML whitespace", "<urlset><url><loc>https://example.com/a</loc></url>", ' ', 1 << 20},
		{"zeros at MaxSize", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			written := make(chan int64, 1)
			go func() {
				var n int64
				defer func() { written <- n }()
				zw, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
				m, err := io.WriteString(zw, tt.prefix)
				n += int64(m)
				chunk := bytes.Repeat([]byte{tt.fill}, 64<<10)
				for n < bombSize && err == nil {
					m, err = zw.Write(chunk)
					n += int64(m)
				}
				if err == nil {
					err = zw.Close()
				}
				pw.CloseWithError(err)
			}()
			start := time.Now()
			got, err := Parse(pr, tt.limit)
			elapsed := time.Since(start)
			pr.Close() // stops the writer
			n := <-written
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("error: got %v, want %v", err, ErrTooLarge)
			}
			if n >= bombSize {
				t.Errorf("inflated: got all %d bytes, want Parse to stop near the limit", n)
			}
			if tt.prefix != "" && !reflect.DeepEqual(got.URLs, []string{"https://example.com/a"}) {
				t.Errorf("URLs: got %q, want the one before the padding", got.URLs)
			}
			t.Logf("stopped after %d MiB inflated in %v", n>>20, elapsed)
		})
	}
}

// TestParseBoundedMemory feeds documents whose structure, not their size,
// would make an XML decoder hold memory: elements nested a million deep
// (each open element is an entry on the decoder's stack), one start tag
// with a million attributes, and an element declaring more namespaces than
// a sitemap would (kept until it ends). Each is a few KB of gzip. Parse
// must refuse it with a clear error, having allocated little.
func TestParseBoundedMemory(t *testing.T) {
	const maxAlloc = 8 << 20
	repeat := func(prefix, part, suffix string, n int) []byte {
		var b bytes.Buffer
		b.WriteString(prefix)
		for range n {
			b.WriteString(part)
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	var nsDecls bytes.Buffer
	nsDecls.WriteString("<urlset><url><loc>https://example.com/a</loc></url><url")
	for i := range maxAttrs + 1 {
		fmt.Fprintf(&nsDecls, ` xmlns:n%d="u"`, i)
	}
	nsDecls.WriteString("><loc>https://example.com/b</loc></url></urlset>")
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"nested elements", repeat("<urlset><url><loc>https://example.com/a</loc></url>", "<a>", "", 1_000_000),
			"sitemap: elements nested too deep (more than 16)"},
		{"nested in a url", repeat("<urlset><url><loc>https://example.com/a</loc></url><url>", "<x:a xmlns:x='u'>", "", 300_000),
			"sitemap: elements nested too deep (more than 16)"},
		{"attributes", repeat("<urlset><url><loc>https://example.com/a</loc></url><url", ` a=""`, ">", 1_000_000),
			"sitemap: XML token longer than 65536 bytes"},
		{"namespace declarations", nsDecls.Bytes(), "sitemap: <url> has more than 256 attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gz(t, tt.in)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			got, err := Parse(bytes.NewReader(in), 0)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes of gzip (%d inflated): %d KiB allocated, error %v", len(in), len(tt.in), alloc>>10, err)
			checkErr(t, err, tt.wantErr)
			if alloc > maxAlloc {
				t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
			}
			if !reflect.DeepEqual(got.URLs, []string{"https://example.com/a"}) {
				t.Errorf("URLs: got %q, want the one before the bomb", got.URLs)
			}
		})
	}
}

func TestParseCorruptGzip(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"bad header", []byte{0x1f, 0x8b, 0, 0, 0}},
		{"truncated", gz(t, []byte(xmlHeader+nsURLSet))[:40]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(tt.in), 0)
			if err == nil || !strings.HasPrefix(err.Error(), "sitemap: ") {
				t.Errorf("error: got %v, want a sitemap: error", err)
			}
		})
	}
}

func TestLatin1ReaderSmallBuffers(t *testing.T) {
	in := "a\xe9b\xffc"
	want := "aébÿc"
	got, err := io.ReadAll(iotest.OneByteReader(&latin1Reader{r: strings.NewReader(in)}))
	if err != nil || string(got) != want {
		t.Errorf("got %q, %v; want %q, nil", got, err, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(xmlHeader+nsURLSet), int64(0))
	f.Add([]byte(index), int64(0))
	f.Add(gz(f, []byte(index)), int64(0))
	f.Add([]byte(xmlHeader+nsURLSet), int64(120))
	f.Add([]byte("<?xml version=\"1.0\" encoding=\"latin1\"?><urlset><url><loc>\xe9</loc></url></urlset>"), int64(0))
	f.Add([]byte(`<sm:urlset><sm:url><sm:loc> a&amp;b </sm:loc><image:image><image:loc>x</image:loc></image:image></sm:url></sm:urlset>`), int64(0))
	f.Add([]byte("https://example.com/a\r\nhttp://example.com/b\n"), int64(0))
	f.Add([]byte("<html><body>no</body></html>"), int64(0))
	f.Add([]byte{}, int64(3))
	f.Add([]byte("<urlset><url><loc>a</loc></url><url>"+strings.Repeat("<a b='c'>", MaxDepth)), int64(0))
	f.Fuzz(func(t *testing.T, in []byte, limit int64) {
		got, err := Parse(bytes.NewReader(in), limit)
		if n := len(got.URLs) + len(got.Sitemaps); n > MaxURLs {
			t.Fatalf("got %d entries, want at most %d", n, MaxURLs)
		}
		if len(got.URLs) > 0 && len(got.Sitemaps) > 0 {
			t.Fatalf("got both URLs and Sitemaps: %q %q", got.URLs, got.Sitemaps)
		}
		for _, u := range append(got.URLs, got.Sitemaps...) {
			if u == "" || u != strings.TrimSpace(u) {
				t.Fatalf("got untrimmed or empty entry %q", u)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "sitemap: ") {
			t.Fatalf("error %q lacks the sitemap: prefix", err)
		}
		// How the body is split into reads must not change the outcome.
		got1, err1 := Parse(iotest.OneByteReader(bytes.NewReader(in)), limit)
		if !reflect.DeepEqual(got, got1) || fmt.Sprint(err) != fmt.Sprint(err1) {
			t.Fatalf("one-byte reads: got %q, %v; want %q, %v", got1, err1, got, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	doc := urlset(pages(10_000))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := Parse(bytes.NewReader(doc), 0)
		if err != nil || len(got.URLs) != 10_000 {
			b.Fatalf("got %d URLs, %v", len(got.URLs), err)
		}
	}
}
