package filter_test

import (
	"net/url"
	"testing"

	"github.com/crawld/crawld/filter"
)

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
