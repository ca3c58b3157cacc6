package filter_test

import (
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/crawld/crawld/filter"
)

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
		{filter.ReasonTooLong, "too_long"},
		{filter.ReasonTrap, "trap"},
		{filter.Reason(200), "reason(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("Reason(%d).String() = %q, want %q", uint8(tt.r), got, tt.want)
			}
		})
	}
	want := []filter.Reason{filter.ReasonOK, filter.ReasonInvalid, filter.ReasonScheme, filter.ReasonDomain, filter.ReasonExtension, filter.ReasonTooLong, filter.ReasonTrap}
	if got := filter.Reasons(); !reflect.DeepEqual(got, want) {
		t.Errorf("Reasons() = %v, want %v", got, want)
	}
	// Other packages index arrays by Reason, so the values must not change.
	for i, r := range filter.Reasons() {
		if int(r) != i {
			t.Errorf("Reasons()[%d] = %d (%v), want %d", i, r, r, i)
		}
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

func BenchmarkRules_Check(b *testing.B) {
	r := testRules(b)
	urls := checkURLs(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Check(urls[i%len(urls)])
	}
}
