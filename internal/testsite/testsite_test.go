package testsite

import (
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/html"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newClient returns a client whose connections the test can drop, so that
// goleak sees no transport goroutines.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func start(t *testing.T, cfg Config) *Site {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
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

func TestGraphReachesEveryPage(t *testing.T) {
	for _, cfg := range []Config{
		{Hosts: 3, PagesPerHost: 10, Decoys: true},
		{Hosts: 4, PagesPerHost: 7, LinksPerPage: -1, CrossLinks: -1},
		{Hosts: 2, PagesPerHost: 3, LinksPerPage: 50, CrossLinks: 50, Seed: 3},
		{},
	} {
		s := start(t, cfg)
		seen := map[string]bool{s.SeedURL(): true}
		queue := []string{s.SeedURL()}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			links := s.Links(u)
			for i, l := range links {
				if l == u || slices.Contains(links[:i], l) {
					t.Errorf("%+v: %s links to %s twice or to itself", cfg, u, l)
				}
				if !seen[l] {
					seen[l] = true
					queue = append(queue, l)
				}
			}
		}
		var got []string
		for u := range seen {
			got = append(got, u)
		}
		want := s.URLs()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: BFS reached %d pages, URLs() has %d", cfg, len(got), len(want))
		}
		s.Close()
	}
}

func TestGraphIsDeterministic(t *testing.T) {
	shape := func(seed int64) []string {
		s := start(t, Config{Hosts: 3, PagesPerHost: 12, Seed: seed})
		defer s.Close()
		var out []string
		for _, u := range s.URLs() {
			for _, l := range s.Links(u) {
				for i, h := range s.Hosts() {
					l = strings.Replace(l, h, "host"+string(rune('0'+i)), 1)
				}
				out = append(out, l)
			}
		}
		return out
	}
	a, b, c := shape(1), shape(1), shape(2)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different graphs")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same graph")
	}
}

// hrefs returns every <a href> of an HTML document in document order.
func hrefs(t *testing.T, doc string) []string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := range root.Descendants() {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
				}
			}
		}
	}
	return out
}

func TestHTMLMatchesLinks(t *testing.T) {
	s := start(t, Config{Hosts: 3, PagesPerHost: 10, Decoys: true, Seed: 11})
	c := newClient(t)
	forms := map[string]bool{}
	for _, pageURL := range s.URLs() {
		_, body := get(t, c, pageURL)
		base, _ := url.Parse(pageURL)
		decoys := s.Decoys(pageURL)
		var real, dec []string
		for _, h := range hrefs(t, body) {
			if slices.Contains(decoys, h) {
				dec = append(dec, h)
				continue
			}
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			forms[hrefForm(h)] = true
			real = append(real, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(real, want) {
			t.Errorf("%s: hrefs resolve to\n%v\nLinks() =\n%v", pageURL, real, want)
		}
		if !slices.Equal(dec, decoys) || len(dec) != 6 {
			t.Errorf("%s: decoys in HTML %v, Decoys() = %v", pageURL, dec, decoys)
		}
		// The dedupe decoys must collapse onto the page or a page it links
		// to; the others must not resolve to a page at all.
		allowed := append(s.Links(pageURL), pageURL)
		for _, d := range dec {
			ref, _ := url.Parse(d)
			u := base.ResolveReference(ref)
			u.Fragment = ""
			u.Scheme = strings.ToLower(u.Scheme)
			u.Host = strings.ToLower(u.Host)
			switch {
			case u.Scheme != "http":
			case u.Path == DecoyPDFPath:
				if u.Host != base.Host {
					t.Errorf("%s: pdf decoy on %s", pageURL, u.Host)
				}
			case !slices.Contains(allowed, u.String()):
				t.Errorf("%s: decoy %q resolves to %s, not a linked page", pageURL, d, u)
			}
		}
	}
	if len(forms) != 5 {
		t.Errorf("href forms used: %v", forms)
	}
}

func TestNoDecoys(t *testing.T) {
	s := start(t, Config{Hosts: 2, PagesPerHost: 4})
	c := newClient(t)
	for _, u := range s.URLs() {
		_, body := get(t, c, u)
		if got := hrefs(t, body); len(got) != len(s.Links(u)) {
			t.Errorf("%s: %d hrefs for %d links", u, len(got), len(s.Links(u)))
		}
		if s.Decoys(u) != nil {
			t.Errorf("%s: Decoys() not nil", u)
		}
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

func TestLargeHostIsCheap(t *testing.T) {
	s := start(t, Config{PagesPerHost: 200_000, Seed: 5})
	urls := s.URLs()
	if len(urls) != 200_000 || urls[199_998] != "http://"+s.Hosts()[0]+"/page/199998.html" {
		t.Fatalf("URLs: %d, [199998] %s", len(urls), urls[199_998])
	}
	_, body := get(t, newClient(t), urls[123_456])
	if n := len(hrefs(t, body)); n != 4 { // chain + 3 random, one host
		t.Errorf("page has %d links, want 4", n)
	}
}

func TestSample(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{10, 3}, {10, 8}, {10, 20}, {1000, 100}, {3, 1}, {2, 5}} {
		r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.want)))
		skip := []int{0, 1}
		got := sample(r, tc.n, tc.want, skip)
		if len(got) != min(tc.want, tc.n-2) {
			t.Errorf("sample(%d, %d) returned %d values", tc.n, tc.want, len(got))
		}
		for i, v := range got {
			if v < 0 || v >= tc.n || slices.Contains(skip, v) || slices.Contains(got[:i], v) {
				t.Errorf("sample(%d, %d) = %v", tc.n, tc.want, got)
				break
			}
		}
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

func TestFanOutShape(t *testing.T) {
	const hosts, hubs, leaves = 3, 4, 5
	s := start(t, Config{Hosts: hosts, Hubs: hubs, LeavesPerHub: leaves, Seed: 9})
	cfg := s.Config()
	if cfg.PagesPerHost != 1+hubs*(1+leaves) || cfg.LinksPerPage != 0 || cfg.CrossLinks != 0 {
		t.Fatalf("Config() = %+v", cfg)
	}
	for h, addr := range s.Hosts() {
		root := s.PageURL(h, 0)
		var want []string
		if h+1 < hosts {
			want = append(want, s.PageURL(h+1, 0))
		}
		for j := range hubs {
			want = append(want, "http://"+addr+"/hub/"+strconv.Itoa(j))
		}
		if got := s.Links(root); !slices.Equal(got, want) {
			t.Errorf("%s links to\n%v\nwant\n%v", root, got, want)
		}
		for j := range hubs {
			hub := "http://" + addr + "/hub/" + strconv.Itoa(j)
			want = want[:0]
			for i := range leaves {
				want = append(want, hub+"/leaf/"+strconv.Itoa(i))
			}
			if got := s.Links(hub); !slices.Equal(got, want) {
				t.Errorf("%s links to\n%v\nwant\n%v", hub, got, want)
			}
			for _, leaf := range want {
				if got := s.Links(leaf); len(got) != 0 {
					t.Errorf("leaf %s links to %v", leaf, got)
				}
			}
		}
	}
}

// TestFanOutReachesEveryPage checks that a breadth-first crawl from the seed
// finds every page once, and that in each host's discovery order (which a
// per-host FIFO frontier fetches in) every hub comes before every leaf: the
// property that makes the frontier peak at about all the leaves.
func TestFanOutReachesEveryPage(t *testing.T) {
	const hosts, hubs, leaves = 3, 4, 5
	s := start(t, Config{Hosts: hosts, Hubs: hubs, LeavesPerHub: leaves})
	seen := map[string]bool{s.SeedURL(): true}
	order := map[string][]string{} // host -> paths in discovery order
	queue := []string{s.SeedURL()}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		pu, _ := url.Parse(u)
		order[pu.Host] = append(order[pu.Host], pu.Path)
		for _, l := range s.Links(u) {
			if seen[l] {
				t.Errorf("%s: link to %s, already found", u, l)
				continue
			}
			seen[l] = true
			queue = append(queue, l)
		}
	}
	if want := hosts * (1 + hubs + hubs*leaves); len(seen) != want || len(s.URLs()) != want {
		t.Errorf("BFS found %d pages, URLs() has %d, want %d", len(seen), len(s.URLs()), want)
	}
	nLeaves := 0
	for host, paths := range order {
		lastHub, firstLeaf := -1, len(paths)
		for i, p := range paths {
			switch {
			case strings.Contains(p, "/leaf/"):
				firstLeaf = min(firstLeaf, i)
				nLeaves++
			case strings.HasPrefix(p, "/hub/"):
				lastHub = i
			}
		}
		if lastHub > firstLeaf {
			t.Errorf("%s: a hub is found after a leaf: %v", host, paths)
		}
	}
	if nLeaves != hosts*hubs*leaves {
		t.Errorf("%d leaves, want %d", nLeaves, hosts*hubs*leaves)
	}
}

func TestFanOutHTML(t *testing.T) {
	s := start(t, Config{Hosts: 2, Hubs: 3, LeavesPerHub: 4})
	c := newClient(t)
	forms := map[string]bool{}
	for _, pageURL := range s.URLs() {
		resp, body := get(t, c, pageURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", pageURL, resp.StatusCode)
		}
		base, _ := url.Parse(pageURL)
		var got []string
		for _, h := range hrefs(t, body) {
			forms[hrefForm(h)] = true
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			got = append(got, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(got, want) {
			t.Errorf("%s: hrefs resolve to\n%v\nLinks() =\n%v", pageURL, got, want)
		}
		if strings.Contains(pageURL, "/leaf/") && (len(got) != 0 || len(body) > 512) {
			t.Errorf("leaf %s: %d links, %d bytes; want a small page without links", pageURL, len(got), len(body))
		}
	}
	// Cross-host links come only from the first host's home page, so one
	// form of them is all a two-host site shows.
	if len(forms) < 4 {
		t.Errorf("href forms used: %v", forms)
	}
}

func TestFanOutPaths(t *testing.T) {
	s := start(t, Config{Hubs: 3, LeavesPerHub: 4})
	c := newClient(t)
	for _, u := range s.URLs() {
		h, k, ok := s.Page(u + "#frag")
		if !ok || s.PageURL(h, k) != u {
			t.Errorf("Page(%s) = %d, %d, %v", u, h, k, ok)
		}
	}
	base := "http://" + s.Hosts()[0]
	for _, p := range []string{"/hub/3", "/hub/01", "/hub/+1", "/hub/-0", "/hub/", "/hub/0/", "/hub/0/leaf/4",
		"/hub/0/leaf/", "/hub/0/leaf/01", "/hub/x/leaf/1", "/page/1", "/leaf/1"} {
		if _, _, ok := s.Page(base + p); ok {
			t.Errorf("Page(%s) accepted", p)
		}
		if resp, _ := get(t, c, base+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestFanOutConfig(t *testing.T) {
	for _, bad := range []Config{
		{Hubs: -1}, {Hubs: 1, LeavesPerHub: -1}, {LeavesPerHub: 3},
		{Hubs: 2, LinksPerPage: 1}, {Hosts: 2, Hubs: 2, CrossLinks: 1}, {Hubs: 2, Decoys: true},
		{Hubs: 2, LeavesPerHub: 3, PagesPerHost: 10}, {Hubs: 1 << 20, LeavesPerHub: 1 << 20},
	} {
		if s, err := Start(bad); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", bad)
		}
	}
	s := start(t, Config{Hosts: 2, Hubs: 2, LinksPerPage: -1, CrossLinks: -1})
	if got := s.Config(); got.LeavesPerHub != 10 || got.PagesPerHost != 23 {
		t.Errorf("Config() = %+v", got)
	}
	// A normalised Config starts the same site again.
	again := start(t, s.Config())
	if !reflect.DeepEqual(again.Config(), s.Config()) {
		t.Errorf("restarted Config() = %+v, want %+v", again.Config(), s.Config())
	}
}

// TestFanOutLargeIsCheap serves a host of two million leaves: nothing may be
// stored per page, and pages far into the numbering must work.
func TestFanOutLargeIsCheap(t *testing.T) {
	s := start(t, Config{Hubs: 1000, LeavesPerHub: 2000})
	c := newClient(t)
	last := "http://" + s.Hosts()[0] + "/hub/999/leaf/1999"
	if h, k, ok := s.Page(last); !ok || h != 0 || k != s.Config().PagesPerHost-1 {
		t.Fatalf("Page(%s) = %d, %d, %v", last, h, k, ok)
	}
	if resp, _ := get(t, c, last); resp.StatusCode != http.StatusOK {
		t.Errorf("last leaf: status %d", resp.StatusCode)
	}
	if _, body := get(t, c, "http://"+s.Hosts()[0]+"/hub/500"); len(hrefs(t, body)) != 2000 {
		t.Errorf("hub has %d links, want 2000", len(hrefs(t, body)))
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

// TestPadding checks the shape of the CPU-bound benchmark: pages of about
// 300 KB, the same filler after each page's own links, and 200 links a page
// that still match Links.
func TestPadding(t *testing.T) {
	const padding = 290_000
	s := start(t, Config{Hosts: 3, PagesPerHost: 300, LinksPerPage: 190, CrossLinks: 9, Padding: padding, Seed: 4})
	if len(s.padding) != padding {
		t.Fatalf("padding of %d bytes, want %d", len(s.padding), padding)
	}
	c := newClient(t)
	for _, pageURL := range []string{s.SeedURL(), s.PageURL(1, 150), s.PageURL(2, 299)} {
		resp, body := get(t, c, pageURL)
		h, k, _ := s.Page(pageURL)
		if want := s.render(page{h, k}) + string(s.padding) + pageEnd; body != want {
			t.Errorf("%s: body is not the page, the padding and its end", pageURL)
		}
		if resp.ContentLength != int64(len(body)) || len(body) < padding || len(body) > padding+20_000 {
			t.Errorf("%s: %d bytes, Content-Length %d", pageURL, len(body), resp.ContentLength)
		}
		base, _ := url.Parse(pageURL)
		var got []string
		for _, h := range hrefs(t, body) {
			ref, err := url.Parse(h)
			if err != nil {
				t.Fatalf("%s: bad href %q", pageURL, h)
			}
			got = append(got, base.ResolveReference(ref).String())
		}
		if want := s.Links(pageURL); !slices.Equal(got, want) {
			t.Errorf("%s: %d hrefs resolve to other URLs than Links' %d", pageURL, len(got), len(want))
		}
	}
	// Chain, 190 same-host and 9 cross-host links; the last page has no
	// chain link and the home page also links to the next host.
	for pageURL, want := range map[string]int{s.PageURL(1, 150): 200, s.PageURL(2, 299): 199, s.SeedURL(): 201} {
		if n := len(s.Links(pageURL)); n != want {
			t.Errorf("%s: %d links, want %d", pageURL, n, want)
		}
	}
	if strings.Contains(string(s.padding), "<a") {
		t.Error("the padding has a link")
	}

	// Any length, whole blocks or not, is exact and cuts no tag.
	for _, n := range []int{0, 1, len(fillerBlock) - 1, len(fillerBlock), 3*len(fillerBlock) + 5} {
		f := string(filler(n))
		if len(f) != n || (n > 0 && !strings.HasSuffix(f, "\n")) {
			t.Errorf("filler(%d): %d bytes %q", n, len(f), f)
		}
		if strings.Count(f, "<div") != strings.Count(f, "</div>") || strings.Count(f, "<") != strings.Count(f, ">") {
			t.Errorf("filler(%d) cuts a tag: %q", n, f)
		}
	}
	if s, err := Start(Config{Padding: -1}); err == nil {
		s.Close()
		t.Error("negative Padding accepted")
	}
	// Without padding, pages are unchanged: they end right after the links.
	plain := start(t, Config{Seed: 4})
	if _, body := get(t, c, plain.SeedURL()); !strings.HasSuffix(body, "</ul>\n"+pageEnd) {
		t.Errorf("unpadded page ends %q", body[max(0, len(body)-40):])
	}
}

// hrefForm names how a link is written: protocol-relative, absolute,
// root-relative, dot-dot or relative.
func hrefForm(h string) string {
	switch {
	case strings.HasPrefix(h, "//"):
		return "protocol-relative"
	case strings.HasPrefix(h, "http://"):
		return "absolute"
	case strings.HasPrefix(h, "/"):
		return "root-relative"
	case strings.HasPrefix(h, "../"):
		return "dot-dot"
	}
	return "relative"
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
