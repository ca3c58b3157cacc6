package robots

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestRFCExample(t *testing.T) {
	tests := []struct {
		agent string
		want  map[string]bool
	}{
		{"foobot", map[string]bool{
			"/example/page.html":   true,
			"/example/allowed.gif": true,
			"/example/other.html":  false,
			"/":                    false,
			"/publications/":       false,
			"/robots.txt":          true,
		}},
		{"barbot", map[string]bool{
			"/example/page.html":  false,
			"/example/other.html": true,
			"/a.gif":              true,
		}},
		{"BazBot", map[string]bool{
			"/example/page.html": false,
			"/publications/x":    true,
		}},
		{"quxbot", map[string]bool{ // empty group: everything allowed
			"/":                  true,
			"/example/page.html": true,
			"/a.gif":             true,
		}},
		{"crawld", map[string]bool{ // the "*" group
			"/":                 true,
			"/a.gif":            false,
			"/a.gif?x=1":        true,
			"/example/":         false,
			"/example/x.html":   false,
			"/publications/":    true,
			"/publications/gif": true,
			// Both match; "/publications/" has 14 octets to "*.gif$"'s 6.
			"/publications/a.gif": true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) { check(t, rfcExample, tt.agent, tt.want) })
	}
}

// TestRFCLongestMatch is RFC 9309 5.2.
func TestRFCLongestMatch(t *testing.T) {
	check(t, "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n", "foobot",
		map[string]bool{
			"/example/page/":                 true,
			"/example/page/x":                true,
			"/example/page/disallowed.gif":   false,
			"/example/page/disallowed.gifff": false,
		})
}

func TestSpecialRules(t *testing.T) {
	deny := DisallowAll()
	for _, target := range []string{"/", "", "/x", "/robots.txt?x", "*"} {
		if deny.Allowed(target) {
			t.Errorf("DisallowAll().Allowed(%q) = true, want false", target)
		}
	}
	for _, target := range []string{"/robots.txt", "/robots%2Etxt", "/robots%2etxt"} {
		if !deny.Allowed(target) {
			t.Errorf("DisallowAll().Allowed(%q) = false, want true", target)
		}
	}
	if d := deny.CrawlDelay(); d != 0 {
		t.Errorf("DisallowAll().CrawlDelay() = %v, want 0", d)
	}
	if s := deny.Sitemaps(); s != nil {
		t.Errorf("DisallowAll().Sitemaps() = %q, want nil", s)
	}

	for name, r := range map[string]*Rules{"AllowAll()": AllowAll(), "nil": nil, "zero": {}} {
		for _, target := range []string{"/", "", "/x?y", "/robots.txt"} {
			if !r.Allowed(target) {
				t.Errorf("%s.Allowed(%q) = false, want true", name, target)
			}
		}
		if d := r.CrawlDelay(); d != 0 {
			t.Errorf("%s.CrawlDelay() = %v, want 0", name, d)
		}
		if s := r.Sitemaps(); s != nil {
			t.Errorf("%s.Sitemaps() = %q, want nil", name, s)
		}
	}

	check(t, "User-agent: *\nDisallow: /\nDisallow: /robots.txt\n", "crawld",
		map[string]bool{"/robots.txt": true, "/robots.txt?x=1": false, "/": false, "": false})
}

func TestAllowedDoesNotAllocate(t *testing.T) {
	r := Parse([]byte(realistic), "crawld")
	targets := []string{"/", "/search?q=x", "/products/shoes/red-42.html", "/wp-admin/admin-ajax.php", "/a/b%20c?x=%2F"}
	for _, target := range targets {
		if n := testing.AllocsPerRun(100, func() { r.Allowed(target) }); n != 0 {
			t.Errorf("Allowed(%q) allocates %v times, want 0", target, n)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body := []byte(realistic)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(body, "crawld")
	}
}

func BenchmarkAllowed(b *testing.B) {
	r := Parse([]byte(realistic), "crawld")
	targets := []string{
		"/",
		"/products/shoes/red-running-shoe-42.html",
		"/search?q=red+shoes&page=2",
		"/blog/2024/05/how-we-crawl/",
		"/checkout/cart.php?session=abc",
		"/static/css/site.min.css?v=3",
		"/account/orders/12345",
		"/catalog/item%20with%20space?ref=home",
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Allowed(targets[i%len(targets)])
		i++
	}
}

func TestRulesSize(t *testing.T) {
	var b strings.Builder
	b.WriteString("User-agent: *\nSitemap: https://example.com/sitemap.xml\n")
	for i := 0; b.Len() < MaxSize-64; i++ {
		fmt.Fprintf(&b, "Disallow: /p%d/*/q\n", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := Parse([]byte(b.String()), "crawld")
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	size := r.Size()
	// The estimate leaves out allocator rounding; it must be of the order
	// of what the rules hold, which is several times the file.
	if size < MaxSize || int64(size) < held/2 || int64(size) > 2*held {
		t.Errorf("Size() = %d for a %d-byte file whose rules hold %d bytes of heap", size, b.Len(), held)
	}
	runtime.KeepAlive(r)
	if small, none := AllowAll().Size(), (*Rules)(nil).Size(); small <= 0 || small > 256 || none != 0 {
		t.Errorf("Size() of AllowAll = %d, of nil = %d; want a few bytes and 0", small, none)
	}
}
