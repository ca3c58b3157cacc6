package crawler

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/crawld/crawld/internal/netguard"
	"github.com/crawld/crawld/queue"
)

// forwardProxy is an HTTP forward proxy for tests: it serves absolute-URI
// requests and CONNECT tunnels, and records what it was asked for. It
// forwards only to loopback, so a test never sends traffic elsewhere even
// when the crawler asks for 169.254.169.254.
type forwardProxy struct {
	mu    sync.Mutex
	asked []string // "GET http://host:port/path" or "CONNECT host:port"
	// client forwards plain requests; a proxy of its own would be wrong.
	client http.Transport
}

func (p *forwardProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...)
}

// saw reports whether any request named host ("127.0.0.9", "localhost").
func (p *forwardProxy) saw(host string) bool {
	for _, r := range p.requests() {
		if strings.Contains(r, "//"+host+":") || strings.Contains(r, "//"+host+"/") || strings.HasPrefix(r, "CONNECT "+host+":") {
			return true
		}
	}
	return false
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Host
	what := r.Method + " " + r.URL.String()
	if r.Method == http.MethodConnect {
		target, what = r.Host, "CONNECT "+r.Host
	}
	p.mu.Lock()
	p.asked = append(p.asked, what)
	p.mu.Unlock()
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		http.Error(w, "test proxy forwards only to loopback", http.StatusBadGateway)
		return
	}
	if r.Method != http.MethodConnect {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := p.client.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	upstream, err := net.Dial("tcp", target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer upstream.Close()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// Each direction ends when its source closes, then closes the other
	// side so the opposite copy ends too.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(upstream, conn)
		upstream.Close()
	}()
	_, _ = io.Copy(conn, upstream)
	conn.Close()
	<-done
}

// startProxy serves a forwardProxy on ip and returns it with its URL.
func startProxy(t *testing.T, ip string) (*forwardProxy, string) {
	t.Helper()
	p := &forwardProxy{}
	t.Cleanup(p.client.CloseIdleConnections)
	return p, serve(t, ip, p)
}

// TestCrawl_Proxy checks that a configured proxy does not bypass the
// private-address guard: each target (pages and robots.txt, over plain HTTP
// and CONNECT) is checked before the proxy is asked for it, while the
// proxy's own address, although loopback and outside allow_cidrs, is used.
func TestCrawl_Proxy(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		proxy, proxyURL := startProxy(t, "127.0.0.4")
		var refusedLog pathLog
		refused := serve(t, "127.0.0.9", refusedLog.wrap(htmlPages(map[string]string{"/": "internal"})))
		var localLog pathLog
		local := serve(t, "127.0.0.1", localLog.wrap(htmlPages(map[string]string{"/": "internal"})))
		localhost := strings.Replace(local, "127.0.0.1", "localhost", 1)
		metadata := "http://169.254.169.254/latest/meta-data/"
		var allowedLog pathLog
		allowed := serve(t, "127.0.0.2", allowedLog.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				fmt.Fprintln(w, "User-agent: *\nAllow: /")
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<a href="%s/">refused</a><a href="%s">metadata</a><a href="%s/">name</a>`, refused, metadata, localhost)
		})))

		cfg := testConfig(allowed + "/")
		cfg.Proxy = proxyURL
		cfg.AllowCIDRs = []string{"127.0.0.2/32"} // not the proxy's 127.0.0.4: it is trusted
		cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.9", "169.254.169.254", "localhost"}
		recs := mustCrawl(t, cfg).byURL(t)

		if rec := recs[allowed+"/"]; rec.Status != http.StatusOK || rec.Error != "" {
			t.Errorf("allowed target: %+v, want 200", rec)
		}
		if n := allowedLog.count("/") + allowedLog.count("/robots.txt"); n != 2 {
			t.Errorf("allowed target got %d requests for / and /robots.txt, want 2", n)
		}
		for _, want := range []string{"GET " + allowed + "/robots.txt", "GET " + allowed + "/"} {
			found := false
			for _, r := range proxy.requests() {
				found = found || r == want
			}
			if !found {
				t.Errorf("proxy was not asked for %q; it saw %q", want, proxy.requests())
			}
		}
		for _, tt := range []struct{ url, wantErr, host string }{
			{refused + "/", "blocked address 127.0.0.9 (loopback)", "127.0.0.9"},
			{metadata, "blocked address 169.254.169.254 (link-local)", "169.254.169.254"},
			{localhost + "/", "blocked address ", "localhost"},
		} {
			if rec := recs[tt.url]; rec.Status != 0 || !strings.HasPrefix(rec.Error, tt.wantErr) {
				t.Errorf("%s: %+v, want an error starting %q", tt.url, rec, tt.wantErr)
			}
			if proxy.saw(tt.host) {
				t.Errorf("the proxy was asked for %s: %q", tt.host, proxy.requests())
			}
		}
		if n := refusedLog.total() + localLog.total(); n != 0 {
			t.Errorf("refused servers got %d requests", n)
		}
	})

	t.Run("https through CONNECT", func(t *testing.T) {
		proxy, proxyURL := startProxy(t, "127.0.0.4")
		var refusedLog pathLog
		refused := httptest.NewUnstartedServer(refusedLog.wrap(htmlPages(map[string]string{"/": "internal"})))
		ln, err := net.Listen("tcp", "127.0.0.9:0")
		if err != nil {
			t.Fatal(err)
		}
		refused.Listener = ln
		refused.StartTLS()
		t.Cleanup(refused.Close)
		target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<a href="%s/">refused</a>`, refused.URL)
		}))
		target.StartTLS() // on 127.0.0.1: the test certificate names that address
		t.Cleanup(target.Close)
		roots := x509.NewCertPool()
		roots.AddCert(target.Certificate())

		cfg := testConfig(target.URL + "/")
		cfg.Proxy = proxyURL
		cfg.AllowCIDRs = []string{"127.0.0.1/32"}
		cfg.AllowDomains = []string{"127.0.0.1", "127.0.0.9"}
		sink := &recordSink{}
		mustRunOn(t, cfg, queue.NewMemory(queue.Config{PerHostConcurrency: 1}), sink, WithRootCAs(roots))
		recs := sink.byURL(t)
		if rec := recs[target.URL+"/"]; rec.Status != http.StatusOK {
			t.Errorf("allowed target: %+v, want 200", rec)
		}
		if rec := recs[refused.URL+"/"]; rec.Status != 0 || !strings.HasPrefix(rec.Error, "blocked address 127.0.0.9 (loopback)") {
			t.Errorf("refused target: %+v, want a blocked address error", rec)
		}
		if !proxy.saw("127.0.0.1") {
			t.Errorf("the proxy was not asked to CONNECT to the allowed target: %q", proxy.requests())
		}
		if proxy.saw("127.0.0.9") || refusedLog.total() != 0 {
			t.Errorf("the refused target was reached: proxy saw %q, server got %d requests", proxy.requests(), refusedLog.total())
		}
	})
}

// TestCrawl_HTTPSProxy sends requests through a proxy reached over TLS,
// which still checks each target first.
func TestCrawl_HTTPSProxy(t *testing.T) {
	proxy := &forwardProxy{}
	t.Cleanup(proxy.client.CloseIdleConnections)
	srv := httptest.NewUnstartedServer(proxy)
	srv.StartTLS() // on 127.0.0.1: the test certificate names that address
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	var refusedLog pathLog
	refused := serve(t, "127.0.0.9", refusedLog.wrap(htmlPages(map[string]string{"/": "internal"})))
	allowed := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="%s/">refused</a>`, refused)
	}))

	cfg := testConfig(allowed + "/")
	cfg.Robots = false
	cfg.Proxy = srv.URL
	cfg.AllowCIDRs = []string{"127.0.0.2/32"}
	cfg.AllowDomains = []string{"127.0.0.2", "127.0.0.9"}
	sink := &recordSink{}
	mustRunOn(t, cfg, queue.NewMemory(queue.Config{PerHostConcurrency: 1}), sink, WithRootCAs(roots))
	recs := sink.byURL(t)
	if rec := recs[allowed+"/"]; rec.Status != http.StatusOK || !proxy.saw("127.0.0.2") {
		t.Errorf("allowed target: %+v, proxy saw %q; want 200 through the proxy", rec, proxy.requests())
	}
	if rec := recs[refused+"/"]; !strings.HasPrefix(rec.Error, "blocked address 127.0.0.9") || proxy.saw("127.0.0.9") || refusedLog.total() != 0 {
		t.Errorf("refused target: %+v, proxy saw %q; want a blocked address error and no request", rec, proxy.requests())
	}
}

// TestNewClient_IgnoresProxyEnvironment checks that HTTP_PROXY and
// HTTPS_PROXY route nothing: without Config.Proxy the transport has no
// proxy function at all, and with it every request goes to Config.Proxy.
func TestNewClient_IgnoresProxyEnvironment(t *testing.T) {
	envProxy, envURL := startProxy(t, "127.0.0.5")
	t.Setenv("HTTP_PROXY", envURL)
	t.Setenv("HTTPS_PROXY", envURL)
	t.Setenv("NO_PROXY", "")
	var log pathLog
	base := serve(t, "127.0.0.2", log.wrap(htmlPages(map[string]string{"/": "page"})))

	cfg := testConfig(base + "/")
	tr := newClient(cfg, &netguard.Guard{}).Transport.(*http.Transport)
	if tr.Proxy != nil {
		u, err := tr.Proxy(httptest.NewRequest(http.MethodGet, "http://example.com/", nil))
		t.Errorf("without proxy set, the transport's Proxy gives %v, %v for http://example.com/; want no Proxy function", u, err)
	}
	recs := mustCrawl(t, cfg).byURL(t)
	if rec := recs[base+"/"]; rec.Status != http.StatusOK || log.count("/") != 1 {
		t.Errorf("record %+v, %d requests; want 200 fetched directly", rec, log.count("/"))
	}

	proxy, proxyURL := startProxy(t, "127.0.0.4")
	cfg.Proxy = proxyURL
	recs = mustCrawl(t, cfg).byURL(t)
	if rec := recs[base+"/"]; rec.Status != http.StatusOK || !proxy.saw("127.0.0.2") {
		t.Errorf("record %+v, proxy saw %q; want 200 through the configured proxy", rec, proxy.requests())
	}
	if r := envProxy.requests(); len(r) != 0 {
		t.Errorf("the proxy named by HTTP_PROXY was asked for %q", r)
	}
}

func TestConfig_Proxy(t *testing.T) {
	for _, tt := range []struct {
		proxy   string
		wantErr string
	}{
		{"", ""},
		{"http://proxy.internal:3128", ""},
		{"https://user:secret@proxy.internal", ""},
		{"socks5://proxy.internal:1080", "proxy: want http://host:port"},
		{"proxy.internal:3128", "proxy: want http://host:port"},
		{"http://user:secret@proxy.internal:3128/path", "proxy: want http://host:port"},
		{"http://user:secret@proxy internal:3128", "proxy: not a URL"},
	} {
		t.Run(tt.proxy, func(t *testing.T) {
			cfg := testConfig("http://example.com/")
			cfg.Proxy = tt.proxy
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("Validate: %v, want an error starting %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("Validate: %v reveals the proxy's password", err)
			}
		})
	}
}
