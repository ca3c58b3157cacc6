package crawler

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestCrawl_Redirects(t *testing.T) {
	var other pathLog
	otherURL := serve(t, "127.0.0.3", other.wrap(htmlPages(map[string]string{"/x": "x"})))
	var log pathLog
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="/r-internal">1</a><a href="/r-external">2</a><a href="/loop1">3</a>
				<a href="/chain/0">4</a><a href="/r-dup">5</a><a href="/dup">6</a><a href="/self">7</a><a href="/via1">8</a>`)
		case p == "/r-internal":
			http.Redirect(w, r, "/target", http.StatusFound)
		case p == "/r-external":
			http.Redirect(w, r, otherURL+"/x", http.StatusMovedPermanently)
		case p == "/loop1":
			http.Redirect(w, r, "/loop2", http.StatusFound)
		case p == "/loop2":
			http.Redirect(w, r, "/loop1", http.StatusFound)
		case p == "/self":
			http.Redirect(w, r, "/self", http.StatusMovedPermanently)
		case p == "/via1":
			http.Redirect(w, r, "/via2", http.StatusFound)
		case p == "/via2":
			http.Redirect(w, r, "/via3", http.StatusFound)
		case p == "/via3":
			http.Redirect(w, r, "/via2", http.StatusFound) // back to a hop, not to the origin
		case p == "/r-dup":
			http.Redirect(w, r, "/dup", http.StatusFound)
		case strings.HasPrefix(p, "/chain/"):
			var n int
			fmt.Sscanf(p, "/chain/%d", &n)
			http.Redirect(w, r, fmt.Sprintf("/chain/%d", n+1), http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "page")
		}
	})
	base := serve(t, "127.0.0.2", log.wrap(handler))
	cfg := testConfig(base + "/")
	maxRedirects := cfg.MaxRedirects
	sink := mustCrawl(t, cfg)
	recs := sink.byURL(t)

	if n := other.total(); n != 0 {
		t.Errorf("redirect target on a disallowed host received %d requests", n)
	}
	if rec := recs[base+"/r-external"]; rec.Status != 0 || !strings.Contains(rec.Error, "redirect refused") || rec.FinalURL != otherURL+"/x" {
		t.Errorf("refused redirect record: %+v", rec)
	}
	if rec := recs[base+"/r-internal"]; rec.Status != 200 || rec.Error != "" || rec.FinalURL != base+"/target" {
		t.Errorf("followed redirect record: %+v", rec)
	}
	if rec := recs[base+"/chain/0"]; rec.Status != 0 || !strings.Contains(rec.Error, "too many redirects") {
		t.Errorf("long chain record: %+v", rec)
	}
	for n := 0; n <= maxRedirects; n++ {
		if got := log.count(fmt.Sprintf("/chain/%d", n)); got != 1 {
			t.Errorf("/chain/%d requested %d times, want 1", n, got)
		}
	}
	if got := log.count(fmt.Sprintf("/chain/%d", maxRedirects+1)); got != 0 {
		t.Errorf("redirect hop %d was followed", maxRedirects+1)
	}
	for _, p := range []string{"/loop1", "/loop2", "/dup", "/target", "/self", "/via1", "/via2", "/via3"} {
		if got := log.count(p); got != 1 {
			t.Errorf("%s requested %d times, want 1", p, got)
		}
	}
	for _, loop := range [][]string{{"/loop1", "/loop2", "/loop1"}, {"/self", "/self"}, {"/via1", "/via2", "/via3", "/via2"}} {
		want := base + strings.Join(loop, " -> "+base)
		if rec := recs[base+loop[0]]; rec.Status != 0 || rec.Error != "redirect loop: "+want || rec.FinalURL != base+loop[len(loop)-1] {
			t.Errorf("redirect loop record: %+v, want error %q", rec, "redirect loop: "+want)
		}
	}
	for _, hop := range []string{"/loop2", "/via2", "/via3"} {
		if _, ok := recs[base+hop]; ok {
			t.Errorf("redirect hop %s has a record of its own", hop)
		}
	}
	// A redirect to a page crawled under its own record ends with the
	// redirect's record, naming where it led.
	if rec := recs[base+"/r-dup"]; rec.Status != http.StatusFound || rec.Error != "" || rec.FinalURL != base+"/dup" {
		t.Errorf("redirect to a page already crawled: %+v", rec)
	}
}
