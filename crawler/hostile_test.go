package crawler

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/internal/netguard"
)

// hostileSite serves the misbehaving pages of the hostile-web tests.
func hostileSite(t *testing.T, log *pathLog) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		// /stall and /drip are crawled as seeds of their own, with short
		// timeouts.
		fmt.Fprint(w, `<a href="/bomb">1</a><a href="/png">2</a><a href="/cal/0">3</a><a href="/many">4</a>`)
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<p>start")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never another byte
	})
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				fmt.Fprint(w, "x")
				w.(http.Flusher).Flush()
			}
		}
	})
	mux.HandleFunc("/bomb", func(w http.ResponseWriter, r *http.Request) {
		// 1 GiB of zeros, compressed on the fly to about 1 MiB.
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zeros := make([]byte, 1<<20)
		for range 1024 {
			if _, err := zw.Write(zeros); err != nil {
				return // the crawler hung up, as it should
			}
		}
		zw.Close()
	})
	mux.HandleFunc("/png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"+`<a href="/inside-png">x</a>`)
	})
	mux.HandleFunc("/cal/", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/cal/%d", &n)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="/cal/%d">next month</a><a href="/cal/%d">previous month</a>`, n+1, n-1)
	})
	mux.HandleFunc("/many", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		for i := range 5000 {
			fmt.Fprintf(w, `<a href="/m/%d">%d</a>`, i, i)
		}
	})
	mux.HandleFunc("/m/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "leaf")
	})
	return serve(t, "127.0.0.2", log.wrap(mux))
}

func TestCrawl_HostileWeb(t *testing.T) {
	var log pathLog
	base := hostileSite(t, &log)

	// The timeouts get short deadlines of their own, and each is asserted
	// only to have ended its page with a timeout: on a busy machine a short
	// deadline may fire early, which is still the timeout under test. The
	// other pages run with deadlines that only bound a hang, so that a slow
	// machine cannot turn their outcome into a timeout.
	timeouts := []struct {
		name, path      string
		idle, fetch     time.Duration
		wantErr, reason string
	}{
		// The fetch timeout is far off: only the idle timeout can end it.
		{"a stalled body", "/stall", 200 * time.Millisecond, 30 * time.Second, "timeout: no body data for 200ms", "the idle timeout"},
		// A byte every 20 ms keeps the idle timeout away: only the fetch
		// timeout can end it.
		{"a dripping body", "/drip", 30 * time.Second, time.Second, "Client.Timeout", "the fetch timeout"},
	}
	for _, tt := range timeouts {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(base + tt.path)
			cfg.Robots = false
			cfg.MaxRetries = 0
			cfg.ReadIdleTimeout = tt.idle
			cfg.FetchTimeout = tt.fetch
			recs := mustCrawl(t, cfg).byURL(t)
			if rec := recs[base+tt.path]; rec.Status != 0 || !strings.Contains(rec.Error, tt.wantErr) {
				t.Errorf("%s: %+v, want status 0 and an error containing %q (%s)", tt.path, rec, tt.wantErr, tt.reason)
			}
		})
	}

	cfg := testConfig(base + "/")
	cfg.Robots = false
	cfg.MaxRetries = 0
	cfg.MaxHostFailures = 100
	cfg.ReadIdleTimeout = 30 * time.Second // bounds a hang
	cfg.FetchTimeout = 30 * time.Second    // bounds a hang
	cfg.MaxBody = 1 << 20
	cfg.MaxLinksPerPage = 100
	cfg.MaxPagesPerHost = 150
	recs := mustCrawl(t, cfg).byURL(t)
	if rec := recs[base+"/bomb"]; rec.Status != 0 || !strings.Contains(rec.Error, "body too large") {
		t.Errorf("/bomb: %+v, want status 0 and an error containing %q", rec, "body too large")
	}
	if n := log.count("/inside-png"); n != 0 {
		t.Errorf("a link inside a binary body labelled text/html was followed")
	}
	if rec := recs[base+"/many"]; rec.Links != 100 || rec.Error != "" {
		t.Errorf("/many: %+v, want 100 links taken", rec)
	}
	pages := 0
	for p, n := range log.paths {
		if p != "/stall" && p != "/drip" { // the crawls above
			pages += n
		}
	}
	if pages != 150 || len(recs) != 150 {
		t.Errorf("requests %d, records %d; want both capped at max_pages_per_host (150)", pages, len(recs))
	}
}

func TestCrawl_PrivateAddressGuard(t *testing.T) {
	var inside pathLog
	internal := serve(t, "127.0.0.3", inside.wrap(htmlPages(map[string]string{"/": "internal", "/x": "internal"})))
	var outside pathLog
	public := serve(t, "127.0.0.2", outside.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/r" {
			http.Redirect(w, r, internal+"/x", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="%s/">link to an internal host</a><a href="/r">redirect to it</a>`, internal)
	})))

	t.Run("on by default", func(t *testing.T) {
		cfg := testConfig(public + "/")
		cfg.AllowCIDRs = nil
		recs := mustCrawl(t, cfg).byURL(t)
		if rec := recs[public+"/"]; rec.Status != 0 || !strings.HasPrefix(rec.Error, "blocked address 127.0.0.2 (loopback)") {
			t.Errorf("record: %+v, want a blocked address error", rec)
		}
		if n := outside.total(); n != 0 {
			t.Errorf("a loopback server got %d requests with the guard on", n)
		}
	})
	t.Run("a name resolving to loopback", func(t *testing.T) {
		var local pathLog
		localURL := serve(t, "127.0.0.1", local.wrap(htmlPages(map[string]string{"/": "x"})))
		localhost := strings.Replace(localURL, "127.0.0.1", "localhost", 1)
		cfg := testConfig(localhost + "/")
		cfg.AllowCIDRs = []string{"127.0.0.2/32"}
		recs := mustCrawl(t, cfg).byURL(t)
		if rec := recs[localhost+"/"]; !strings.HasPrefix(rec.Error, "blocked address") {
			t.Errorf("record: %+v, want a blocked address error", rec)
		}
		if n := local.total(); n != 0 {
			t.Errorf("the server behind localhost got %d requests", n)
		}
	})
	t.Run("links and redirects to a blocked address", func(t *testing.T) {
		cfg := testConfig(public + "/")
		cfg.AllowCIDRs = []string{"127.0.0.2/32"}
		cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.3"}
		recs := mustCrawl(t, cfg).byURL(t)
		if n := inside.total(); n != 0 {
			t.Errorf("the internal host got %d requests", n)
		}
		if rec := recs[internal+"/"]; !strings.HasPrefix(rec.Error, "blocked address 127.0.0.3") {
			t.Errorf("linked internal page: %+v", rec)
		}
		if rec := recs[public+"/r"]; rec.FinalURL != internal+"/x" || !strings.HasPrefix(rec.Error, "blocked address 127.0.0.3") {
			t.Errorf("redirect to the internal host: %+v", rec)
		}
	})
}

func TestCrawl_TrapsAndLongURLs(t *testing.T) {
	var log pathLog
	base := serve(t, "127.0.0.2", log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		// Every page links one level deeper through a relative link, as a
		// broken template does: /a/b/, /a/b/a/b/, ... repeats forever.
		fmt.Fprintf(w, `<a href="a/b/">deeper</a><a href="/%s">long</a><a href="/x/X/x/X/x/X">case differs</a>`, strings.Repeat("l", 3000))
	})))
	cfg := testConfig(base + "/")
	cfg.Robots = false
	recs := mustCrawl(t, cfg).byURL(t)
	for _, p := range []string{"/", "/a/b/", "/a/b/a/b/", "/a/b/a/b/a/b/", "/x/X/x/X/x/X"} {
		if n := log.count(p); n != 1 {
			t.Errorf("%s requested %d times, want 1", p, n)
		}
	}
	if n := log.count("/" + strings.Repeat("l", 3000)); n != 0 {
		t.Errorf("a URL over max_url_length was requested")
	}
	for p := range log.paths {
		seen := map[string]int{}
		for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
			if seen[seg]++; seen[seg] > 3 {
				t.Errorf("%s was requested: %q occurs more than 3 times", p, seg)
				break
			}
		}
	}
	if len(recs) != log.total() || len(recs) > 20 {
		t.Errorf("records %d, requests %d: the trap was not contained", len(recs), log.total())
	}
}

func TestReadBody(t *testing.T) {
	body := strings.Repeat("b", 300<<10)
	tests := []struct {
		name    string
		limit   int64
		budget  int64
		hint    int64
		wantLen int
		wantErr error
	}{
		{"fits", 1 << 20, 1 << 20, -1, len(body), nil},
		{"content length hint", 1 << 20, 1 << 20, int64(len(body)), len(body), nil},
		{"over the body limit reads one byte more", 100 << 10, 1 << 20, -1, 100<<10 + 1, nil},
		{"larger than the whole budget", 1 << 20, 128 << 10, -1, 128 << 10, errBodyOverBudget},
		{"a hint larger than the whole budget", 1 << 20, 100 << 10, int64(len(body)), 100 << 10, errBodyOverBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := &bodyBudget{limit: tt.budget}
			mem := budget.reserve()
			take := func(n int64) error { return mem.take(context.Background(), n) }
			got, err := readBody(strings.NewReader(body), tt.limit, tt.hint, budget.room(), take)
			if len(got) != tt.wantLen || err != tt.wantErr {
				t.Fatalf("readBody: %d bytes, %v; want %d, %v", len(got), err, tt.wantLen, tt.wantErr)
			}
			if used := budget.used; used != int64(cap(got)) || used > tt.budget {
				t.Errorf("budget used %d, want exactly the capacity %d, within %d", used, cap(got), tt.budget)
			}
			mem.release()
			mem.release() // a second release gives nothing back
			if used, holders := budget.used, budget.holders; used != 0 || holders != 0 {
				t.Errorf("budget after release: %d bytes, %d holders; want none", used, holders)
			}
		})
	}
}

func TestBodyBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // bounds a hang
	defer cancel()
	take := func(r *reservation, n int64) <-chan error {
		done := make(chan error, 1)
		go func() { done <- r.take(ctx, n) }()
		return done
	}

	t.Run("waits until memory is given back", func(t *testing.T) {
		b := &bodyBudget{limit: 100}
		slow, waiter := b.reserve(), b.reserve()
		if err := slow.take(ctx, 100); err != nil {
			t.Fatal(err)
		}
		got := take(waiter, 60)
		slow.release()
		if err := <-got; err != nil {
			t.Fatalf("take after release: %v", err)
		}
		if b.used != 60 {
			t.Errorf("used %d, want 60", b.used)
		}
	})
	t.Run("holders waiting on each other: the newest is refused", func(t *testing.T) {
		b := &bodyBudget{limit: 100}
		r1, r2 := b.reserve(), b.reserve()
		if err := r1.take(ctx, 60); err != nil {
			t.Fatal(err)
		}
		if err := r2.take(ctx, 40); err != nil {
			t.Fatal(err)
		}
		got1, got2 := take(r1, 30), take(r2, 30)
		var first error
		var rest <-chan error
		select {
		case first = <-got1:
			r1.release()
			rest = got2
		case first = <-got2:
			r2.release()
			rest = got1
		case <-ctx.Done():
			t.Fatal("deadlock: two holders wait on each other")
		}
		if first != errBodyBudget {
			t.Fatalf("the refused take: %v, want %v", first, errBodyBudget)
		}
		if err := <-rest; err != nil {
			t.Errorf("the other take, once the refused one gave back: %v", err)
		}
		if b.used > b.limit {
			t.Errorf("used %d, over the limit %d", b.used, b.limit)
		}
	})
	t.Run("more than could ever fit is refused at once", func(t *testing.T) {
		b := &bodyBudget{limit: 100}
		r := b.reserve()
		if err := r.take(ctx, 70); err != nil {
			t.Fatal(err)
		}
		if err := r.take(ctx, 31); err != errBodyOverBudget {
			t.Errorf("take: %v, want %v", err, errBodyOverBudget)
		}
	})
	t.Run("a wait ends with its context", func(t *testing.T) {
		b := &bodyBudget{limit: 100}
		holder, waiter := b.reserve(), b.reserve()
		if err := holder.take(ctx, 100); err != nil {
			t.Fatal(err)
		}
		ended, end := context.WithCancel(ctx)
		end()
		if err := waiter.take(ended, 1); err != errBodyBudget {
			t.Errorf("take: %v, want %v", err, errBodyBudget)
		}
		if len(b.waiters) != 0 || b.used != 100 {
			t.Errorf("after the wait ended: %d waiters, %d used; want 0, 100", len(b.waiters), b.used)
		}
	})
}

func TestCrawl_BodyBudgetWaitsForMemory(t *testing.T) {
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/" {
			for i := range 8 {
				fmt.Fprintf(w, `<a href="/big/%d">%d</a>`, i, i)
			}
			return
		}
		io.WriteString(w, strings.Repeat("x", 400<<10))
	}))
	cfg := testConfig(base + "/")
	cfg.Robots = false
	cfg.PerHostConcurrency = 8
	cfg.MaxBodyMemory = 1 << 20 // two 400 KiB bodies at a time, not eight
	cfg.MaxRetries = 20
	cfg.MaxHostFailures = 1 // memory pressure must not count as the host failing
	recs := mustCrawl(t, cfg).records()
	if len(recs) != 9 {
		t.Fatalf("records: %d, want 9", len(recs))
	}
	for _, r := range recs {
		if r.Status != 200 || r.Error != "" {
			t.Errorf("record: %+v; every page must come through once memory frees up", r)
		}
	}
}

// TestCrawl_SlowHostsHoldingBodyMemory: while the bodies of slow hosts take
// all of max_body_memory, another host's pages wait for memory instead of
// failing, and that host is not set aside.
func TestCrawl_SlowHostsHoldingBodyMemory(t *testing.T) {
	const slowSize, pageSize = 600 << 10, 100 << 10
	var flushed sync.WaitGroup // the slow hosts' first bytes are out: the crawler holds their memory
	flushed.Add(2)
	release := make(chan struct{}) // lets the slow hosts finish
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", fmt.Sprint(slowSize)) // reserved in full as the headers arrive
		io.WriteString(w, strings.Repeat("s", 64<<10))
		w.(http.Flusher).Flush()
		flushed.Done()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, strings.Repeat("s", slowSize-64<<10))
	})
	slow1, slow2 := serve(t, "127.0.0.3", slow), serve(t, "127.0.0.4", slow)
	var releaseOnce sync.Once
	innocent := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/" {
			flushed.Wait()
			io.WriteString(w, `<a href="/p1">1</a><a href="/p2">2</a><a href="/p3">3</a>`)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(pageSize))
		io.WriteString(w, strings.Repeat("p", pageSize))
		// The page is sent while the slow bodies hold the memory; they may
		// finish now.
		releaseOnce.Do(func() { close(release) })
	}))
	cfg := testConfig(slow1+"/", slow2+"/", innocent+"/")
	cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	cfg.Robots = false
	cfg.Workers = 4
	cfg.MaxRetries = 0
	cfg.MaxHostFailures = 1
	cfg.FetchTimeout = 60 * time.Second    // bounds a hang
	cfg.ReadIdleTimeout = 60 * time.Second // the slow hosts are slow, not dead
	cfg.MaxBodyMemory = 2*(slowSize+1) + pageSize/2
	recs := mustCrawl(t, cfg).byURL(t)
	for _, u := range []string{slow1 + "/", slow2 + "/", innocent + "/", innocent + "/p1", innocent + "/p2", innocent + "/p3"} {
		if rec := recs[u]; rec.Status != 200 || rec.Error != "" {
			t.Errorf("%s: status %d, error %q; want a normal 200 record", u, rec.Status, rec.Error)
		}
	}
}

// rawHeaderServer answers every request with a 302 whose Location is
// location and, with padding > 0, an X-Padding header of padding bytes,
// written in chunks so that the server itself holds no copy of it.
func rawHeaderServer(t *testing.T, ip, location string, padding int) string {
	t.Helper()
	return serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\nLocation: %s\r\n", location)
		if padding > 0 {
			chunk := []byte(strings.Repeat("p", 64<<10))
			buf.WriteString("X-Padding: ")
			for n := padding; n > 0; n -= len(chunk) {
				if _, err := buf.Write(chunk[:min(n, len(chunk))]); err != nil {
					return // the crawler hung up, as it should
				}
			}
			buf.WriteString("\r\n")
		}
		buf.WriteString("\r\n")
		buf.Flush()
	}))
}

func TestCrawl_HugeLocationIsTruncated(t *testing.T) {
	huge := "/" + strings.Repeat("l", 9<<20) // a record quoting it whole took 18 MiB
	tests := []struct {
		name           string
		location       string
		maxHeaderBytes int64
		maxURLLength   int // -1: none
		wantErr        string
	}{
		{"under the header cap, over max_url_length", "/" + strings.Repeat("l", 200<<10), 0, 0, "redirect refused by filter (too_long, location of 204801 bytes): "},
		{"headers allowed up to 16 MiB", huge, 16 << 20, 0, "redirect refused by filter (too_long, location of 9437185 bytes): "},
		{"no max_url_length, another domain", "http://elsewhere.invalid" + huge, 16 << 20, -1, "redirect refused by filter (domain): http://elsewhere.invalid/lll"},
		{"over the default header cap", huge, 0, 0, "response headers too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := rawHeaderServer(t, "127.0.0.2", tt.location, 0)
			cfg := testConfig(base + "/")
			cfg.Robots = false
			cfg.MaxRetries = 0
			if tt.maxHeaderBytes > 0 {
				cfg.MaxHeaderBytes = tt.maxHeaderBytes
			}
			if tt.maxURLLength < 0 {
				cfg.MaxURLLength = 0
			}
			recs := mustCrawl(t, cfg).records()
			if len(recs) == 0 {
				t.Fatal("no record")
			}
			for _, rec := range recs {
				b, err := json.Marshal(rec)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("record of %d bytes", len(b))
				if len(b) > 2*maxEchoedURL+1024 {
					t.Errorf("record of %d bytes: a URL was echoed whole (error starts %.200q)", len(b), rec.Error)
				}
			}
			if rec := recs[0]; !strings.Contains(rec.Error, tt.wantErr) || rec.Status != 0 {
				t.Errorf("record error %.300q (status %d), want one containing %q", rec.Error, rec.Status, tt.wantErr)
			}
			if rec := recs[0]; strings.Contains(rec.Error, "refused") && !strings.HasSuffix(rec.Error, truncatedMark) {
				t.Errorf("record error %.300q does not mark the URL as truncated", rec.Error)
			}
		})
	}
}

func TestCrawl_HugeHeadersAreRefused(t *testing.T) {
	base := rawHeaderServer(t, "127.0.0.2", "/elsewhere", 8<<20)
	cfg := testConfig(base + "/")
	cfg.Robots = false
	cfg.MaxRetries = 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs := mustCrawl(t, cfg).records()
	runtime.ReadMemStats(&after)
	if len(recs) != 1 || recs[0].Status != 0 || !strings.HasPrefix(recs[0].Error, "response headers too large") {
		t.Fatalf("records %+v, want one with the error \"response headers too large\"", recs)
	}
	// Reading the 8 MiB header whole allocates it at least twice (buffer
	// and string); stopping at max_header_bytes, the whole crawl allocates
	// about 2 MiB.
	t.Logf("allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 6<<20 {
		t.Errorf("the crawl allocated %d MiB for one response: its headers were read past max_header_bytes", alloc>>20)
	}
}

// TestFetch_TimeoutAfterWaitingForMemory: a fetch that spent most of its
// fetch timeout waiting for body memory and then ran out of time is memory
// pressure (errBodyBudget, not charged to the host), not a slow server.
func TestFetch_TimeoutAfterWaitingForMemory(t *testing.T) {
	stall := make(chan struct{})
	defer close(stall)
	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		select { // the rest never comes
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	cfg := testConfig(base + "/")
	cfg.FetchTimeout = 10 * time.Second
	guard, err := netguard.New(false, cfg.AllowCIDRs)
	if err != nil {
		t.Fatal(err)
	}
	budget := &bodyBudget{limit: 1000}
	f := &fetcher{client: newClient(cfg, guard), userAgent: cfg.UserAgent, maxBody: cfg.MaxBody, idle: time.Minute, budget: budget}
	defer f.client.CloseIdleConnections()
	other := budget.reserve()
	if err := other.take(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	// Memory comes back three quarters into the fetch timeout; the body
	// then cannot arrive in time. The fetch waited for memory more than
	// half its timeout unless it took 2.5 s to begin waiting, which even
	// a busy machine does not (with 2 s and 1.5 s it needed 0.5 s).
	release := time.AfterFunc(7500*time.Millisecond, other.release)
	defer release.Stop()
	_, err = f.fetch(context.Background(), base+"/", nil)
	if !errors.Is(err, errBodyBudget) {
		t.Errorf("fetch: %v, want %v", err, errBodyBudget)
	}
}
