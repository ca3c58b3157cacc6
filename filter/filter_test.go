package filter_test

import (
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/crawld/crawld/filter"
)

var normalizeTests = []struct {
	name, in, want string
}{
	// Case.
	{"scheme and host lowercased", "HTTP://Example.COM/Path", "http://example.com/Path"},
	{"path case kept", "http://example.com/A/B", "http://example.com/A/B"},
	{"userinfo kept", "http://User:Pass@Example.com/", "http://User:Pass@example.com/"},
	{"opaque only scheme", "MAILTO:Foo@Example.COM", "mailto:Foo@Example.COM"},

	// Ports.
	{"http default port", "http://example.com:80/", "http://example.com/"},
	{"https default port", "HTTPS://example.com:443/a", "https://example.com/a"},
	{"http with https port", "http://example.com:443/", "http://example.com:443/"},
	{"https with http port", "https://example.com:80/", "https://example.com:80/"},
	{"other port", "http://example.com:8080/", "http://example.com:8080/"},
	{"other scheme keeps port", "ftp://example.com:21/", "ftp://example.com:21/"},
	{"empty port", "http://example.com:/", "http://example.com/"},
	{"colons in non-http host kept", "ftp://a::/", "ftp://a::/"},
	{"colons in non-http host, empty port", "A://:A:", "a://:a:/"},
	{"bracket in non-http host", "A://:]:", "a://:]:/"},
	{"empty path", "http://example.com", "http://example.com/"},
	{"empty path with query", "http://example.com?q=1", "http://example.com/?q=1"},

	// IPv6.
	{"ipv6", "http://[::1]/", "http://[::1]/"},
	{"ipv6 default port", "http://[::1]:80", "http://[::1]/"},
	{"ipv6 case and port", "https://[2001:DB8::A]:8443/x", "https://[2001:db8::a]:8443/x"},
	{"ipv6 empty port", "https://[::1]:/", "https://[::1]/"},
	{"ipv4", "http://127.0.0.1:80/", "http://127.0.0.1/"},

	// Fragment and empty query.
	{"fragment", "http://example.com/a#Frag", "http://example.com/a"},
	{"empty fragment", "http://example.com/a#", "http://example.com/a"},
	{"escaped fragment", "http://example.com/a#%7e%2f", "http://example.com/a"},
	{"empty query", "http://example.com/a?", "http://example.com/a"},
	{"empty query and fragment", "http://example.com/a?#f", "http://example.com/a"},
	{"query and fragment", "http://example.com/?q=1#x", "http://example.com/?q=1"},

	// Dot segments (RFC 3986 5.2.4 and the examples of 5.4).
	{"dot and dotdot", "http://a/a/./b/../c", "http://a/a/c"},
	{"rfc example", "http://a/a/b/c/./../../g", "http://a/a/g"},
	{"rfc mid", "http://a/mid/content=5/../6", "http://a/mid/6"},
	{"dotdot at root", "http://a/..", "http://a/"},
	{"dotdot above root", "http://a/../../g", "http://a/g"},
	{"dotdot above root mid", "http://a/b/../../../g", "http://a/g"},
	{"slash dot slash", "http://a/./", "http://a/"},
	{"dot at root", "http://a/.", "http://a/"},
	{"trailing dot", "http://a/b/.", "http://a/b/"},
	{"trailing dot slash", "http://a/b/./", "http://a/b/"},
	{"trailing dotdot", "http://a/b/c/..", "http://a/b/"},
	{"trailing dotdot to root", "http://a/b/..", "http://a/"},
	{"empty segment kept", "http://a/b//c/../d", "http://a/b//d"},
	{"dotdot over empty segment", "http://a/b//..", "http://a/b/"},
	{"dotdot then empty", "http://a/..//x", "http://a//x"},
	{"dot names are not dots", "http://a/.b/..c/.../d.", "http://a/.b/..c/.../d."},
	{"escaped dots", "http://a/b/%2E%2e/c/%2e", "http://a/c/"},
	{"escaped slash is no separator", "http://a/b%2F..%2Fc", "http://a/b%2F..%2Fc"},
	{"dotdot over escaped slash", "http://a/x/b%2fc/../d", "http://a/x/d"},

	// Percent-encoding.
	{"tilde decoded", "http://a/%7euser", "http://a/~user"},
	{"letters decoded", "http://a/%41%62%30", "http://a/Ab0"},
	{"unreserved marks decoded", "http://a/%2d%2E%5f%7E", "http://a/-._~"},
	{"slash uppercased, kept", "http://a/a%2fb", "http://a/a%2Fb"},
	{"reserved kept", "http://a/a%3ab%40c%3F", "http://a/a%3Ab%40c%3F"},
	{"space kept", "http://a/a%20b", "http://a/a%20b"},
	{"utf8 uppercased", "http://a/%e2%82%ac", "http://a/%E2%82%AC"},
	{"percent kept", "http://a/100%25", "http://a/100%25"},
	{"non-ascii path", "http://a/café/日本", "http://a/caf%C3%A9/%E6%97%A5%E6%9C%AC"},

	// Query.
	{"query order kept", "http://a/?z=1&a=2&z=0", "http://a/?z=1&a=2&z=0"},
	{"query escapes", "http://a/?q=%7e&r=%2f&s=%41", "http://a/?q=~&r=%2F&s=A"},
	{"query plus and space kept", "http://a/?q=a+b&q=a%20b", "http://a/?q=a+b&q=a%20b"},
	{"query odd bytes kept", "http://a/?a=&&b=;c=d=e", "http://a/?a=&&b=;c=d=e"},
	{"query invalid escape kept", "http://a/?a=%zz&b=%4", "http://a/?a=%zz&b=%4"},
	{"query stray percent: no decoding", "http://a/?a=%%341&b=%7e", "http://a/?a=%%341&b=%7E"},
}

func TestNormalize(t *testing.T) {
	for _, tt := range normalizeTests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", tt.in, err)
			}
			before := *u
			got := normalizeChecked(t, u)
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(*u, before) {
				t.Errorf("Normalize(%q) modified its argument: got %#v, want %#v", tt.in, *u, before)
			}
		})
	}
}

// normalizeChecked normalises u, checks that doing it again changes nothing and
// that the result is what url.Parse makes of its String (so Path and RawPath
// agree), and returns its String.
func normalizeChecked(t *testing.T, u *url.URL) string {
	t.Helper()
	n := filter.Normalize(u)
	s := n.String()
	if again := filter.Normalize(n).String(); again != s {
		t.Errorf("Normalize not idempotent: %q, then %q", s, again)
	}
	re, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url.Parse(%q) of normalised URL: %v", s, err)
	}
	if !reflect.DeepEqual(re, n) {
		t.Errorf("url.Parse(%q) = %#v, Normalize gave %#v", s, re, n)
	}
	return s
}

func TestNormalizeRelative(t *testing.T) {
	// Dot segments of a relative reference depend on its base, so they stay.
	for _, in := range []string{"../a/./b", "a/../b", "./x?#f"} {
		t.Run(in, func(t *testing.T) {
			u, err := url.Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(in, "?#f")
			if got := filter.Normalize(u).String(); got != want {
				t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestNormalizePathKeepsSlashEscape(t *testing.T) {
	n := filter.Normalize(mustParse(t, "http://a/b%2fc"))
	if n.Path != "/b/c" || n.RawPath != "/b%2Fc" {
		t.Errorf("Path, RawPath = %q, %q; want %q, %q", n.Path, n.RawPath, "/b/c", "/b%2Fc")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"normalised", "HTTP://Example.com:80/a/../b#f", "http://example.com/b", ""},
		{"empty", "", "", `filter: "" has no scheme`},
		{"relative", "/a/b", "", `filter: "/a/b" has no scheme`},
		{"no scheme", "example.com/a", "", `filter: "example.com/a" has no scheme`},
		{"no host", "http:///a", "", `filter: "http:///a" has no host`},
		{"port only", "http://:80/", "", `filter: "http://:80/" has no host`},
		{"opaque", "mailto:a@example.com", "", `filter: "mailto:a@example.com" has no host`},
		{"bad host", "http://a b/", "", `filter: parse "http://a b/": invalid character " " in host name`},
		{"bad escape", "http://a/%zz", "", `filter: parse "http://a/%zz": invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := filter.Parse(tt.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("Parse(%q) error = %q, want %q", tt.in, gotErr, tt.wantErr)
			}
			if err == nil && u.String() != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.in, u, tt.want)
			}
		})
	}
}

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    filter.Reason
		want string
	}{
		{filter.ReasonOK, "ok"},
		{filter.ReasonInvalid, "invalid"},
		{filter.ReasonScheme, "scheme"},
		{filter.ReasonDomain, "domain"},
		{filter.ReasonExtension, "extension"},
		{filter.Reason(200), "reason(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("Reason(%d).String() = %q, want %q", uint8(tt.r), got, tt.want)
			}
		})
	}
	want := []filter.Reason{filter.ReasonOK, filter.ReasonInvalid, filter.ReasonScheme, filter.ReasonDomain, filter.ReasonExtension}
	if got := filter.Reasons(); !reflect.DeepEqual(got, want) {
		t.Errorf("Reasons() = %v, want %v", got, want)
	}
}

func TestNewRulesErrors(t *testing.T) {
	tests := []struct {
		name                        string
		domains, schemes, extension []string
		want                        string
	}{
		{"empty domain", []string{"ok.com", ""}, nil, nil, `filter: invalid domain pattern "": empty`},
		{"slash", []string{"a/b"}, nil, nil, `filter: invalid domain pattern "a/b": contains "/"`},
		{"port", []string{"example.com:80"}, nil, nil, `filter: invalid domain pattern "example.com:80": contains ":"`},
		{"ipv6", []string{"::1"}, nil, nil, `filter: invalid domain pattern "::1": contains ":"`},
		{"space", []string{"a .com"}, nil, nil, `filter: invalid domain pattern "a .com": contains whitespace`},
		{"tab", []string{"a.com\t"}, nil, nil, `filter: invalid domain pattern "a.com\t": contains whitespace`},
		{"star", []string{"*"}, nil, nil, `filter: invalid domain pattern "*": matches every host; leave the list empty for no restriction`},
		{"star dot", []string{"*."}, nil, nil, `filter: invalid domain pattern "*.": matches every host; leave the list empty for no restriction`},
		{"dot", []string{"."}, nil, nil, `filter: invalid domain pattern ".": matches every host; leave the list empty for no restriction`},
		{"inner star", []string{"a.*.com"}, nil, nil, `filter: invalid domain pattern "a.*.com": "*" is only allowed as a leading "*."`},
		{"star without dot", []string{"*Example.com"}, nil, nil, `filter: invalid domain pattern "*Example.com": "*" is only allowed as a leading "*."`},
		{"empty scheme", nil, []string{"http", ""}, nil, `filter: invalid scheme ""`},
		{"scheme digit first", nil, []string{"1http"}, nil, `filter: invalid scheme "1http"`},
		{"scheme underscore", nil, []string{"h_t"}, nil, `filter: invalid scheme "h_t"`},
		{"scheme colon", nil, []string{"http:"}, nil, `filter: invalid scheme "http:"`},
		{"double extension", nil, nil, []string{"tar.gz"}, `filter: invalid extension "tar.gz": contains "."`},
		{"two dots", nil, nil, []string{"..html"}, `filter: invalid extension "..html": contains "."`},
		{"extension slash", nil, nil, []string{".a/b"}, `filter: invalid extension ".a/b": contains "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := filter.NewRules(tt.domains, tt.schemes, tt.extension)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewRules error = %v, want %q", err, tt.want)
			}
			if r != nil {
				t.Errorf("NewRules returned %v with an error, want nil", r)
			}
		})
	}
}

func TestDomainPatterns(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM", "example.com", true},
		{"example.com", "example.com:8080", true},
		{"example.com", "www.example.com", false},
		{"example.com", "badexample.com", false},
		{"example.com", "example.com.evil.org", false},
		{"*.example.com", "example.com", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com:443", true},
		{"*.Example.com", "a.example.com", true},
		{"*.example.com", "badexample.com", false},
		{"*.example.com", "example.org", false},
		{".example.com", "example.com", true},
		{".example.com", "a.b.example.com", true},
		{".example.com", "badexample.com", false},
		{".example.com", "a.badexample.com", false},
		{"com", "com", true},
		{".com", "a.example.com", true},
		{"localhost", "localhost:8080", true},
		{"127.0.0.2", "127.0.0.2:8080", true},
		{"127.0.0.2", "127.0.0.20", false},
		{"127.0.0.2", "[::1]", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.host, func(t *testing.T) {
			r, err := filter.NewRules([]string{tt.pattern}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := filter.ReasonDomain
			if tt.want {
				want = filter.ReasonOK
			}
			u := mustParse(t, "http://"+tt.host+"/")
			if got := r.Check(u); got != want {
				t.Errorf("pattern %q: Check(%q) = %v, want %v", tt.pattern, u, got, want)
			}
		})
	}
}

func TestExtensions(t *testing.T) {
	tests := []struct {
		name string
		exts []string
		path string
		want bool
	}{
		{"plain", []string{"html"}, "/a.html", true},
		{"with dot", []string{".html"}, "/a.html", true},
		{"upper list", []string{"HTML"}, "/a.html", true},
		{"upper path", []string{"html"}, "/A.HTML", true},
		{"mixed", []string{".HtMl"}, "/a.hTmL", true},
		{"other", []string{"html"}, "/a.php", false},
		{"last of several", []string{"gz"}, "/a.tar.gz", true},
		{"not the first", []string{"tar"}, "/a.tar.gz", false},
		{"only last segment", []string{"2"}, "/v1.2/page", false},
		{"escaped dot", []string{"html"}, "/a%2Ehtml", true},
		{"query ignored", []string{"html"}, "/a.html?x=y.php", true},
		{"no ext rejected", []string{"html"}, "/page", false},
		{"dir rejected", []string{"html"}, "/dir/", false},
		{"root rejected", []string{"html"}, "/", false},
		{"none: no dot", []string{""}, "/page", true},
		{"none: dir", []string{""}, "/a.b/", true},
		{"none: root", []string{""}, "/", true},
		{"none: dotted dir", []string{""}, "/v1.2/page", true},
		{"none: hidden", []string{""}, "/.hidden", true},
		{"none: trailing dot", []string{""}, "/file.", true},
		{"none: has one", []string{""}, "/a.html", false},
		{"dot means none", []string{"."}, "/page", true},
		{"hidden is not ext", []string{"hidden"}, "/.hidden", false},
		{"hidden with ext", []string{"txt"}, "/.notes.txt", true},
		{"either", []string{"html", ""}, "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := filter.NewRules(nil, nil, tt.exts)
			if err != nil {
				t.Fatal(err)
			}
			want := filter.ReasonExtension
			if tt.want {
				want = filter.ReasonOK
			}
			u := mustParse(t, "http://a"+tt.path)
			if got := r.Check(u); got != want {
				t.Errorf("extensions %q: Check(%q) = %v, want %v", tt.exts, u, got, want)
			}
		})
	}
}

func testRules(t testing.TB) *filter.Rules {
	r, err := filter.NewRules(
		[]string{"Example.COM", "*.sub.org", ".dot.net", "127.0.0.2"},
		[]string{"HTTP", "https"},
		[]string{"html", ".PHP", ""},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheck(t *testing.T) {
	r := testRules(t)
	tests := []struct {
		name string
		u    *url.URL
		want filter.Reason
	}{
		{"ok", mustParse(t, "https://example.com/a.html"), filter.ReasonOK},
		{"ok no ext", mustParse(t, "http://a.sub.org/dir/"), filter.ReasonOK},
		{"ok ip", mustParse(t, "http://127.0.0.2:8080/x.php"), filter.ReasonOK},
		{"nil url fields", &url.URL{}, filter.ReasonInvalid},
		{"relative", &url.URL{Path: "/a.html"}, filter.ReasonInvalid},
		{"no host", &url.URL{Scheme: "http", Path: "/"}, filter.ReasonInvalid},
		{"port only", &url.URL{Scheme: "http", Host: ":80", Path: "/"}, filter.ReasonInvalid},
		{"opaque", &url.URL{Scheme: "http", Opaque: "example.com"}, filter.ReasonInvalid},
		{"scheme", mustParse(t, "ftp://example.com/"), filter.ReasonScheme},
		{"scheme not normalised", &url.URL{Scheme: "HTTP", Host: "example.com", Path: "/"}, filter.ReasonScheme},
		{"scheme before domain", mustParse(t, "ftp://other.com/a.jpg"), filter.ReasonScheme},
		{"domain", mustParse(t, "http://www.example.com/"), filter.ReasonDomain},
		{"domain before extension", mustParse(t, "http://other.com/a.jpg"), filter.ReasonDomain},
		{"extension", mustParse(t, "http://example.com/a.jpg"), filter.ReasonExtension},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Check(tt.u); got != tt.want {
				t.Errorf("Check(%q) = %v, want %v", tt.u, got, tt.want)
			}
		})
	}
}

func TestNoRestriction(t *testing.T) {
	empty, err := filter.NewRules([]string{}, nil, []string{})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*filter.Rules{"zero": {}, "empty lists": empty} {
		t.Run(name, func(t *testing.T) {
			for _, in := range []string{"gopher://x.y/a.exe", "http://[::1]:9/", "https://a/"} {
				if got := r.Check(mustParse(t, in)); got != filter.ReasonOK {
					t.Errorf("Check(%q) = %v, want ok", in, got)
				}
			}
			if got := r.Check(&url.URL{Path: "/"}); got != filter.ReasonInvalid {
				t.Errorf("Check of relative URL = %v, want invalid", got)
			}
		})
	}
}

func TestCheckConcurrent(t *testing.T) {
	r := testRules(t)
	u := mustParse(t, "http://a.b.sub.org/x.PHP")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := r.Check(u); got != filter.ReasonOK {
					t.Errorf("Check(%q) = %v, want ok", u, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCheckAllocs(t *testing.T) {
	r := testRules(t)
	urls := checkURLs(t)
	for _, u := range urls {
		if got := testing.AllocsPerRun(100, func() { r.Check(u) }); got != 0 {
			t.Errorf("Check(%q) allocates %v times, want 0", u, got)
		}
	}
}

func checkURLs(t testing.TB) []*url.URL {
	var urls []*url.URL
	for _, in := range []string{
		"https://example.com/a.html",
		"http://a.b.c.sub.org/A.PHP",
		"http://a.b.c.d.other.org/",
		"http://[::1]:8080/x",
		"http://127.0.0.2/x.JPG",
		"ftp://example.com/",
		"https://www.dot.net/v1.2/page",
	} {
		urls = append(urls, mustParse(t, in))
	}
	return urls
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := filter.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func BenchmarkNormalize(b *testing.B) {
	var urls []*url.URL
	for _, in := range []string{
		"https://example.com/",
		"HTTP://WWW.Example.COM:80/a/b/../c/./d.html?q=1&r=2#top",
		"https://example.com/%7euser/a%2fb/caf%c3%a9?x=%41",
	} {
		u, err := url.Parse(in)
		if err != nil {
			b.Fatal(err)
		}
		urls = append(urls, u)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		filter.Normalize(urls[i%len(urls)])
	}
}

func BenchmarkRules_Check(b *testing.B) {
	r := testRules(b)
	urls := checkURLs(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Check(urls[i%len(urls)])
	}
}

func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{
		"HTTP://Example.COM:80/a/./b/../c?q=%7e#frag",
		"https://[2001:DB8::1]:443/%2f%41",
		"http://[fe80::1%25En0]:8080/",
		"http://a/..//x/.",
		"http://a/b%2F..%2Fc/%2E%2E",
		"http://a/?%%341&x=%zz",
		"http://u:p@a:/café?",
		"ftp://a::/",
		"http://a?#",
		"http://a/%25%32%46",
		"mailto:Foo@Example.COM",
		"//host/path",
		"../a/./b",
		"http://a/*",
		"http://a/;x=1/./%3b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, _ = filter.Parse(raw)
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		n := filter.Normalize(u)
		if !u.IsAbs() || u.Host == "" {
			return
		}
		if _, err := url.Parse(u.String()); err != nil {
			// net/url cannot round-trip some inputs by itself, e.g. a raw
			// non-ASCII byte in an IPv6 zone ("a://[::%25\xd5]") is printed
			// escaped, and escaped is rejected. Normalize cannot repair that.
			return
		}
		s := n.String()
		re, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url.Parse(%q) of Normalize(%q): %v", s, raw, err)
		}
		if again := filter.Normalize(n).String(); again != s {
			t.Fatalf("Normalize(%q) = %q, then %q", raw, s, again)
		}
		if again := filter.Normalize(re).String(); again != s {
			t.Fatalf("Normalize(%q) = %q; re-parsed and normalised: %q", raw, s, again)
		}
	})
}
