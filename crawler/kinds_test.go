package crawler

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// errorCounts reads crawld_errors_total from reg, by kind.
func errorCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	counts := make(map[string]float64)
	for _, f := range families {
		if f.GetName() != "crawld_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					counts[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

// TestCrawl_ErrorKinds crawls loopback servers failing in each way and
// checks that every record's error_kind is the kind of its failure, and
// that crawld_errors_total counts the records by that kind.
func TestCrawl_ErrorKinds(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/"
	closed.Close()

	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	untrusted := httptest.NewUnstartedServer(htmlPages(map[string]string{"/": "secret"}))
	untrusted.Listener = ln
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes it refuses
	// Its certificate is not one the crawler trusts.
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	base := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /private\n")
		case "/503":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/big", "/hang", "/reset":
			serveFailure(w, r)
		case "/elsewhere":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		case "/r1", "/r2", "/r3":
			http.Redirect(w, r, fmt.Sprintf("/r%d", r.URL.Path[2]-'0'+1), http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop2", http.StatusFound)
		case "/loop2":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "fine")
		}
	}))
	// The first request to this host fails, which sets it aside.
	aside := serve(t, "127.0.0.7", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, "fine")
	}))
	hugeHeaders := rawHeaderServer(t, "127.0.0.6", "/elsewhere", 1<<20)
	noName := "http://" + strings.Repeat("n", 64) + ".test/"

	tests := []struct {
		name  string
		seeds []string
		url   string // the record checked
		setup func(*Config)
		kind  string
	}{
		{"success", []string{base + "/fine"}, base + "/fine", nil, ""},
		// Neither name is ever sent to a name server: a label of 64
		// bytes is not a domain name, and Go does not look up .onion
		// names (RFC 7686).
		{"name that does not resolve", []string{noName}, noName, nil, kindDNS},
		{"onion name", []string{"http://nowhere.onion/"}, "http://nowhere.onion/", nil, kindDNS},
		{"connection refused", []string{refused}, refused, nil, kindConnect},
		{"connection closed", []string{base + "/reset"}, base + "/reset", nil, kindConnectionLost},
		{"no headers in time", []string{base + "/hang"}, base + "/hang", func(cfg *Config) { cfg.HeaderTimeout = time.Second }, kindTimeout},
		{"untrusted certificate", []string{untrusted.URL + "/"}, untrusted.URL + "/", nil, kindTLS},
		{"loopback without allow_cidrs", []string{base + "/fine"}, base + "/fine", func(cfg *Config) { cfg.AllowCIDRs = nil }, kindBlockedAddress},
		{"disallowed by robots.txt", []string{base + "/private"}, base + "/private", func(cfg *Config) { cfg.Robots = true }, kindRobots},
		{"503 after retries", []string{base + "/503"}, base + "/503", func(cfg *Config) { cfg.MaxRetries = 1 }, kindHTTPStatus},
		{"body over max_body", []string{base + "/big"}, base + "/big", func(cfg *Config) { cfg.MaxBody = 1000 }, kindBodyTooLarge},
		{"headers over max_header_bytes", []string{hugeHeaders + "/"}, hugeHeaders + "/", nil, kindHeadersTooLarge},
		{"redirect refused by the filter", []string{base + "/elsewhere"}, base + "/elsewhere", nil, kindFilter},
		{"too many redirects", []string{base + "/r1"}, base + "/r1", func(cfg *Config) { cfg.MaxRedirects = 2 }, kindRedirect},
		{"redirect loop", []string{base + "/loop"}, base + "/loop", nil, kindRedirect},
		{"host set aside", []string{aside + "/first", aside + "/second"}, aside + "/second", func(cfg *Config) { cfg.MaxHostFailures = 1 }, kindHostSetAside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.seeds...)
			cfg.Robots = false
			cfg.MaxRetries = 0
			fastRetries(&cfg)
			if tt.setup != nil {
				tt.setup(&cfg)
			}
			sink := &recordSink{}
			reg := prometheus.NewRegistry()
			front := queue.NewMemory(queue.Config{Rate: cfg.Rate, Burst: cfg.Burst, PerHostConcurrency: cfg.PerHostConcurrency})
			if _, err := runOn(t, context.Background(), cfg, front, sink, zap.ErrorLevel, WithRegistry(reg)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			recs := sink.byURL(t)
			rec, ok := recs[tt.url]
			if !ok {
				t.Fatalf("no record for %s among %+v", tt.url, sink.records())
			}
			t.Logf("error %q", rec.Error)
			if rec.ErrorKind != tt.kind {
				t.Errorf("error_kind %q (error %q), want %q", rec.ErrorKind, rec.Error, tt.kind)
			}
			want := make(map[string]float64)
			for _, r := range recs {
				if (r.Error == "") != (r.ErrorKind == "") {
					t.Errorf("%s: error %q with error_kind %q: a kind goes with every error and only with one", r.URL, r.Error, r.ErrorKind)
				}
				if r.ErrorKind != "" {
					want[r.ErrorKind]++
				}
			}
			for kind, n := range errorCounts(t, reg) {
				if n != want[kind] {
					t.Errorf("crawld_errors_total{kind=%q} = %v, want %v", kind, n, want[kind])
				}
			}
		})
	}
}

// TestErrorKind: the kind is the one set where the failure happened,
// whatever the message says.
func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{withKind(kindRobots, errRobotsDisallowed), kindRobots},
		{fmt.Errorf("giving up after 2 retries: %w", withKind(kindHTTPStatus, fmt.Errorf("503 Service Unavailable"))), kindHTTPStatus},
		// A message that reads like another kind does not make it one.
		{withKind(kindBlockedAddress, fmt.Errorf("timeout: connection refused")), kindBlockedAddress},
		{fmt.Errorf("timeout"), kindOther},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("errorKind(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
