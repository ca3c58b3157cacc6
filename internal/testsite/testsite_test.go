package testsite

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestServeAndLog(t *testing.T) {
	s := start(t, Config{Hosts: 3, PagesPerHost: 10, Decoys: true, Seed: 7})
	c := newClient(t)
	hosts := s.Hosts()
	if len(hosts) != 3 {
		t.Fatalf("Hosts() = %v", hosts)
	}
	for i, h := range hosts {
		if ip, _, _ := net.SplitHostPort(h); ip != "127.0.0."+string(rune('2'+i)) {
			t.Errorf("host %d = %s", i, h)
		}
	}
	if s.SeedURL() != "http://"+hosts[0]+"/" {
		t.Errorf("SeedURL() = %s", s.SeedURL())
	}
	urls := s.URLs()
	if len(urls) != 30 {
		t.Fatalf("len(URLs()) = %d", len(urls))
	}
	for _, u := range urls {
		resp, _ := get(t, c, u)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", u, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", u, ct)
		}
	}
	reqs := s.Requests()
	if len(reqs) != len(urls) {
		t.Fatalf("logged %d requests, want %d", len(reqs), len(urls))
	}
	for i, r := range reqs {
		u, _ := url.Parse(urls[i])
		if r.Host != u.Host || r.Path != u.Path || r.RawQuery != "" {
			t.Errorf("request %d = %+v, want %s", i, r, urls[i])
		}
		if !strings.HasPrefix(r.UserAgent, "Go-http-client/") {
			t.Errorf("request %d UserAgent %q", i, r.UserAgent)
		}
		if i > 0 && r.At.Before(reqs[i-1].At) {
			t.Errorf("request %d logged out of order", i)
		}
		if n := s.Count(urls[i]); n != 1 {
			t.Errorf("Count(%s) = %d", urls[i], n)
		}
	}

	// Count normalises what never reaches the server but not the query.
	page1 := s.PageURL(0, 1)
	get(t, c, page1)
	if n := s.Count(strings.Replace(page1, "http:", "HTTP:", 1) + "#x"); n != 2 {
		t.Errorf("Count after second fetch = %d, want 2", n)
	}
	if n := s.Count(page1 + "?a=1"); n != 0 {
		t.Errorf("Count with query = %d, want 0", n)
	}
	resp, _ := get(t, c, page1+"?a=1")
	if resp.StatusCode != http.StatusNotFound || s.Count(page1+"?a=1") != 1 {
		t.Errorf("query: status %d, count %d", resp.StatusCode, s.Count(page1+"?a=1"))
	}
	if last := s.Requests()[len(s.Requests())-1]; last.RawQuery != "a=1" {
		t.Errorf("RawQuery = %q", last.RawQuery)
	}
}

func TestNotFoundAndDecoyPDF(t *testing.T) {
	s := start(t, Config{Hosts: 2, PagesPerHost: 5, Decoys: true})
	c := newClient(t)
	base := "http://" + s.Hosts()[1]
	for _, p := range []string{"/nope", "/page/5", "/page/3", "/page/1.html", "/page/0", "/page/", "/robots.txt"} {
		resp, _ := get(t, c, base+p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
		if s.Count(base+p) != 1 {
			t.Errorf("%s: 404 not logged", p)
		}
	}
	resp, body := get(t, c, base+DecoyPDFPath)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("pdf: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestLatency(t *testing.T) {
	const latency = 80 * time.Millisecond
	s := start(t, Config{Latency: latency})
	c := newClient(t)
	begin := time.Now()
	get(t, c, s.SeedURL())
	if d := time.Since(begin); d < latency {
		t.Errorf("request took %v, want >= %v", d, latency)
	}
	if at := s.Requests()[0].At; at.Sub(begin) > latency/2 {
		t.Errorf("arrival logged %v after sending; should be before the wait", at.Sub(begin))
	}
}

func TestCancelledRequestLeavesNoGoroutine(t *testing.T) {
	s := start(t, Config{Latency: time.Hour})
	// The site's own Serve loops are expected; anything else must go away.
	ignore := goleak.IgnoreCurrent()
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.SeedURL(), nil)
	_, err := c.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	tr.CloseIdleConnections()
	// If the handler were still sleeping, its goroutine (and its
	// connection's) would be reported here, long before the hour is up.
	goleak.VerifyNone(t, ignore)
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests logged", n)
	}
}

func TestCloseAbortsLatency(t *testing.T) {
	s := start(t, Config{Latency: time.Hour})
	c := newClient(t)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Get(s.SeedURL())
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	begin := time.Now()
	s.Close()
	if d := time.Since(begin); d > 30*time.Second { // the latency is an hour
		t.Errorf("Close took %v", d)
	}
	if err := <-errc; err == nil {
		t.Error("request succeeded after Close")
	}
}

func TestRobots(t *testing.T) {
	c := newClient(t)
	const robots = "User-agent: *\nDisallow: /private/\n"
	s := start(t, Config{Hosts: 2, Robots: robots})
	for _, h := range s.Hosts() {
		resp, body := get(t, c, "http://"+h+"/robots.txt")
		if resp.StatusCode != http.StatusOK || body != robots || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s robots: %d %q %q", h, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if s.Count("http://"+h+"/robots.txt") != 1 {
			t.Errorf("%s: robots.txt not logged", h)
		}
	}
	s2 := start(t, Config{})
	if resp, _ := get(t, c, "http://"+s2.Hosts()[0]+"/robots.txt"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no robots: status %d", resp.StatusCode)
	}
}

func TestCloseStopsListeners(t *testing.T) {
	s, err := Start(Config{Hosts: 3})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	for _, h := range s.Hosts() {
		if conn, err := net.DialTimeout("tcp", h, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections", h)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, bad := range []Config{
		{Hosts: MaxHosts + 1}, {Hosts: -1}, {PagesPerHost: -1},
		{LinksPerPage: -2}, {CrossLinks: -2}, {Latency: -1},
	} {
		if s, err := Start(bad); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", bad)
		}
	}
	s := start(t, Config{})
	want := Config{Hosts: 1, PagesPerHost: 10, LinksPerPage: 3, RetryAfter: 5 * time.Second}
	if got := s.Config(); !reflect.DeepEqual(got, want) {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
	s = start(t, Config{Hosts: 2, LinksPerPage: -1})
	if got := s.Config(); got.CrossLinks != 1 || got.LinksPerPage != 0 {
		t.Errorf("Config() = %+v", got)
	}
	if s.PageURL(2, 0) != "" || s.PageURL(0, 10) != "" || s.Links("http://example.invalid/") != nil {
		t.Error("out-of-range page accepted")
	}
}

func TestBusiestWindow(t *testing.T) {
	site := start(t, Config{Hosts: 2})
	c := newClient(t)
	for range 3 {
		get(t, c, site.PageURL(0, 1))
	}
	get(t, c, site.PageURL(1, 1))
	got := site.BusiestWindow(time.Hour)
	want := map[string]int{site.Hosts()[0]: 3, site.Hosts()[1]: 1}
	if !maps.Equal(got, want) {
		t.Errorf("BusiestWindow(1h) = %v, want %v", got, want)
	}
	for host, n := range site.BusiestWindow(time.Nanosecond) {
		if n != 1 {
			t.Errorf("BusiestWindow(1ns)[%s] = %d, want 1", host, n)
		}
	}
}

func TestUnavailableHost(t *testing.T) {
	site := start(t, Config{Hosts: 2, Unavailable: []int{1}, RetryAfter: 7 * time.Second})
	c := newClient(t)
	for _, u := range []string{site.PageURL(1, 0), "http://" + site.Hosts()[1] + "/robots.txt"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("%s: %d Retry-After %q; want 503 and 7", u, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := get(t, c, site.PageURL(0, 0)); resp.StatusCode != http.StatusOK {
		t.Errorf("healthy host: status %d", resp.StatusCode)
	}
}

func TestETags(t *testing.T) {
	site := start(t, Config{ETags: true})
	c := newClient(t)
	resp, _ := get(t, c, site.PageURL(0, 1))
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req, _ := http.NewRequest("GET", site.PageURL(0, 1), nil)
	req.Header.Set("If-None-Match", etag)
	resp2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", resp2.StatusCode)
	}
}

func TestCountOnly(t *testing.T) {
	s := start(t, Config{Hosts: 2, Hubs: 2, LeavesPerHub: 3, CountOnly: true})
	c := newClient(t)
	for _, u := range s.URLs() {
		get(t, c, u)
	}
	get(t, c, "http://"+s.Hosts()[1]+"/robots.txt") // 404s count too
	want := map[string]int{s.Hosts()[0]: 9, s.Hosts()[1]: 10}
	if got := s.RequestsPerHost(); !maps.Equal(got, want) {
		t.Errorf("RequestsPerHost() = %v, want %v", got, want)
	}
	s.mu.Lock()
	logged, counted := len(s.log), len(s.counts)
	s.mu.Unlock()
	if logged != 0 || counted != 0 {
		t.Errorf("count-only site kept %d log entries and %d URL counts", logged, counted)
	}
	for name, f := range map[string]func(){
		"Requests":      func() { s.Requests() },
		"Count":         func() { s.Count(s.SeedURL()) },
		"BusiestWindow": func() { s.BusiestWindow(time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic with CountOnly", name)
				}
			}()
			f()
		}()
	}
}

func TestRequestsPerHost(t *testing.T) {
	s := start(t, Config{Hosts: 3})
	c := newClient(t)
	get(t, c, s.PageURL(0, 1))
	get(t, c, s.PageURL(0, 2))
	get(t, c, s.PageURL(2, 1))
	want := map[string]int{s.Hosts()[0]: 2, s.Hosts()[2]: 1}
	if got := s.RequestsPerHost(); !maps.Equal(got, want) {
		t.Errorf("RequestsPerHost() = %v, want %v", got, want)
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests logged, want 3", n)
	}
}

func TestPaceViolation(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ms := func(offsets ...int) []time.Time {
		var at []time.Time
		for _, o := range offsets {
			at = append(at, t0.Add(time.Duration(o)*time.Millisecond))
		}
		return at
	}
	const interval = 200 * time.Millisecond
	tests := []struct {
		name string
		at   []time.Time
		lag  time.Duration
		ok   bool
	}{
		{"exact pace", ms(0, 200, 400, 600), 0, true},
		{"one request late, the next on time", ms(0, 270, 400, 600), 0, false},
		{"the same, within the lag", ms(0, 270, 400, 600), 100 * time.Millisecond, true},
		{"out of order", ms(600, 0, 400, 200), 0, true},
		{"two in one interval, with a lag of one interval", ms(0, 10, 400, 600), interval, true},
		{"three in one interval", ms(0, 10, 20, 600), interval, false},
		{"a quarter too fast over many requests", ms(0, 160, 320, 480, 640, 800, 960), interval, false},
		{"none or one", ms(0), 0, true},
	}
	for _, tt := range tests {
		if got := PaceViolation(tt.at, interval, tt.lag); (got == "") != tt.ok {
			t.Errorf("%s: PaceViolation = %q, want ok %v", tt.name, got, tt.ok)
		}
	}
}
