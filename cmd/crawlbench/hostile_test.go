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

// TestHostileScenarios checks that the hostile crawls run by default and
// each under its own name alone, as they did before they joined the run's
// one loop over the scenarios.
func TestHostileScenarios(t *testing.T) {
	hostile := hostileScenarios()
	var names []string
	for _, sc := range hostile {
		names = append(names, sc.name)
		if sc.hostile == nil {
			t.Errorf("%s: no site of its own to measure", sc.name)
		}
	}
	if want := []string{"hostile", "hostile-tiny"}; !slices.Equal(names, want) {
		t.Fatalf("hostile scenarios %v, want %v", names, want)
	}
	if got := scenarioNames()[:3]; !slices.Equal(got, append(names, scenarioStall)) {
		t.Errorf("scenario names begin %v, want the hostile ones then %s", got, scenarioStall)
	}
	for _, sc := range hostile {
		for only, want := range map[string]bool{"": true, sc.name: true, groupCluster: false, "throughput": false, scenarioStall: false} {
			if got := selected(sc, only); got != want {
				t.Errorf("-scenario %q runs %s: %v, want %v", only, sc.name, got, want)
			}
		}
	}
	if selected(hostile[0], hostile[1].name) || selected(hostile[1], hostile[0].name) {
		t.Error("one hostile scenario's name runs the other")
	}
}
