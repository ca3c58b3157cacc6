package warc

import "testing"

// SURT writes the keys warcio.js's getSurt writes (each want below is
// its output for the URL), which are pywb's too for the URLs crawld
// fetches (the first group).
func TestSURT(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		// The same in pywb's Python surt.
		{"http://example.com", "com,example)/"},
		{"http://example.com/?", "com,example)/"},
		{"https://www.Example.com:443/Path/Page.html?b=2&a=1#frag", "com,example)/path/page.html?a=1&b=2"},
		{"http://www2.example.com/", "com,example)/"},
		{"http://www.archive.org/index.html?b=b&a=b", "org,archive)/index.html?a=b&b=b"},
		{"http://example.com:80/p;x=1?", "com,example)/p;x=1"},
		{"http://user:pw@example.com/", "com,example)/"},
		{"https://example.com:8443/a%2Fb?q=%2F", "com,example:8443)/a%2fb?q=%2f"},
		{"http://127.0.0.2:8080/a?x", "2,0,0,127:8080)/a?x"},
		// warcio.js's, where Python's surt differs.
		{"http://127.0.0.2:8080/a/?x", "2,0,0,127:8080)/a/?x"},
		{"http://archive.org/big/", "org,archive)/big/"},
		{"http://WWW.example.com/", "com,example,www)/"},
		{"https://www123.example.org/a", "org,example)/a"},
		{"http://wwwx.example.com/", "com,example,wwwx)/"},
		{"http://www/", "www)/"},
		{"http://a.b.c.d.e/", "e,d,c,b,a)/"},
		{"http://example.com/a-b=1?a=1&a-b=2", "com,example)/a-b=1?a-b=2&a=1"},
		{"http://[::1]:8080/x", "[::1]:8080)/x"},
		{"http://example.com/a b", "com,example)/a%20b"},
		// Not http: as given.
		{"dns:example.com", "dns:example.com"},
		{"HTTP://example.com/", "HTTP://example.com/"},
	} {
		if got := SURT(tc.url); got != tc.want {
			t.Errorf("SURT(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
