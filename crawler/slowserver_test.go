package crawler

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// slowHandlers serves the three ways a server can hold a request without
// ever completing it: no answer at all, a body dripping one byte at a time,
// and header lines sent one at a time, forever. stop ends the handlers that
// outlive their request (a hijacked connection is no longer the server's).
func slowHandlers(stop <-chan struct{}) map[string]http.HandlerFunc {
	drip := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-tick.C:
				fmt.Fprint(w, "x")
				w.(http.Flusher).Flush()
			}
		}
	}
	return map[string]http.HandlerFunc{
		"never": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		},
		"drip": drip,
		"headers": func(w http.ResponseWriter, r *http.Request) {
			conn, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			writeLine := func(bw *bufio.ReadWriter, line string) bool {
				_, err := bw.WriteString(line + "\r\n")
				return err == nil && bw.Flush() == nil
			}
			if !writeLine(rw, "HTTP/1.1 200 OK") {
				return
			}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					if !writeLine(rw, fmt.Sprintf("X-Slow-%d: 1", n)) {
						return // the crawler hung up
					}
				}
			}
		},
	}
}

// A URL whose server never answers, drips its body or sends headers forever
// ends with a timeout record after one retry, not after max_retries: each
// try costs a whole timeout.
func TestCrawl_SlowServerRetriedOnce(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var log pathLog
	mux := http.NewServeMux()
	for name, h := range slowHandlers(stop) {
		mux.HandleFunc("/"+name, h)
	}
	base := serve(t, "127.0.0.2", log.wrap(mux))
	cfg := testConfig(base+"/never", base+"/drip", base+"/headers")
	cfg.Robots = false
	cfg.MaxRetries = 3
	cfg.MaxHostFailures = 100
	// Short, so the test is quick; none of these URLs can finish whatever
	// the timeouts, so the machine's load cannot change the outcome.
	cfg.HeaderTimeout = 300 * time.Millisecond
	cfg.FetchTimeout = 600 * time.Millisecond
	fastRetries(&cfg)
	recs := mustCrawl(t, cfg).byURL(t)
	for _, path := range []string{"/never", "/drip", "/headers"} {
		rec, ok := recs[base+path]
		if !ok || rec.Status != 0 || !strings.Contains(rec.Error, "giving up after 1 retries: timeout") {
			t.Errorf("%s: %+v (present %v), want status 0 and \"giving up after 1 retries: timeout…\"", path, rec, ok)
		}
		if n := log.count(path); n != 2 {
			t.Errorf("%s requested %d times, want 2 (one retry)", path, n)
		}
	}
}

// A host whose robots.txt never answers, drips or answers 5xx is set aside
// after max_host_failures tries: its pages are recorded with an error and
// never requested. A robots.txt fetch is bounded as a whole by
// header_timeout, so a dripping one cannot hold the host for fetch_timeout
// (here far longer than the test's own bound on a hang).
func TestCrawl_RobotsUnreachableSetsHostAside(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	slow := slowHandlers(stop)
	for i, name := range []string{"never", "drip", "headers", "503"} {
		t.Run(name, func(t *testing.T) {
			robotsTxt := slow[name]
			if name == "503" {
				robotsTxt = func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "down", http.StatusServiceUnavailable)
				}
			}
			var log pathLog
			mux := http.NewServeMux()
			mux.HandleFunc("/robots.txt", robotsTxt)
			mux.Handle("/", htmlPages(map[string]string{"/": `<a href="/a">a</a>`, "/a": "a", "/b": "b"}))
			base := serve(t, fmt.Sprintf("127.0.0.%d", 2+i), log.wrap(mux))
			cfg := testConfig(base+"/", base+"/a", base+"/b")
			cfg.MaxHostFailures = 3
			cfg.HeaderTimeout = 300 * time.Millisecond
			cfg.FetchTimeout = 10 * time.Minute
			fastRetries(&cfg)
			recs := mustCrawl(t, cfg).byURL(t)
			for _, path := range []string{"/", "/a", "/b"} {
				rec, ok := recs[base+path]
				if !ok || rec.Status != 0 || !strings.Contains(rec.Error, "host set aside after 3 failed requests") {
					t.Errorf("%s: %+v (present %v), want a \"host set aside\" record", path, rec, ok)
				}
			}
			if n, robots := log.total(), log.count("/robots.txt"); n != robots || robots != cfg.MaxHostFailures {
				t.Errorf("requests: %d, of which %d for robots.txt; want only %d for robots.txt", n, robots, cfg.MaxHostFailures)
			}
		})
	}
}
