package main

import (
	"bytes"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestTinyHandler checks, without crawling, that hostile-tiny's pages are
// what it claims: millions of tiny elements, under the default max_body
// (10 MiB) so that crawld parses them, ending in links to every host.
func TestTinyHandler(t *testing.T) {
	if !slices.Contains(scenarioNames(), "hostile-tiny") {
		t.Errorf("no scenario hostile-tiny in %v", scenarioNames())
	}
	hosts := []string{"127.0.0.2:1", "127.0.0.3:2"}
	rec := httptest.NewRecorder()
	tinyHandler(hosts).ServeHTTP(rec, httptest.NewRequest("GET", "/tiny?n=3", nil))
	body := rec.Body.Bytes()
	if len(body) > 10<<20 || len(body) < 9<<20 {
		t.Errorf("page of %d bytes; want 9–10 MiB", len(body))
	}
	if n := bytes.Count(body, []byte("<p>")); n < 3_000_000 {
		t.Errorf("%d elements; want millions", n)
	}
	for _, want := range []string{`<a href="http://127.0.0.2:1/tiny?n=7">`, `<a href="http://127.0.0.3:2/tiny?n=8">`} {
		if !bytes.HasSuffix(body, []byte(want+"next</a>")) && !bytes.Contains(body[len(body)-200:], []byte(want)) {
			t.Errorf("page does not end with a link %s", want)
		}
	}
}
