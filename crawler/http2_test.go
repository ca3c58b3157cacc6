package crawler

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crawld/crawld/queue"
)

// TestCrawl_HTTP2 crawls a TLS server that offers HTTP/2: every request must
// arrive as HTTP/2, multiplexed over one connection however many are in
// flight to the host.
func TestCrawl_HTTP2(t *testing.T) {
	var (
		conns  atomic.Int32
		mu     sync.Mutex
		protos = map[string]int{}
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		mu.Unlock()
		var n int
		fmt.Sscanf(r.URL.Path, "/%d", &n)
		w.Header().Set("Content-Type", "text/html")
		if n < 30 {
			fmt.Fprintf(w, `<a href="/%d">a</a><a href="/%d">b</a>`, 2*n+1, 2*n+2)
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS() // on 127.0.0.1: the test certificate names that address
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	cfg := testConfig(srv.URL + "/0")
	cfg.PerHostConcurrency = 4
	front := queue.NewMemory(queue.Config{PerHostConcurrency: cfg.PerHostConcurrency})
	sink := &recordSink{}
	c, err := New(cfg, front, sink, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), WithRootCAs(roots))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	recs := sink.records()
	for _, r := range recs {
		if r.Status != http.StatusOK {
			t.Fatalf("record %+v, want 200", r)
		}
	}
	if len(recs) < 61 {
		t.Fatalf("%d records, want ≥ 61", len(recs))
	}
	mu.Lock()
	defer mu.Unlock()
	if protos["HTTP/2.0"] != len(recs)+1 || len(protos) != 1 { // the pages and robots.txt
		t.Errorf("requests by protocol = %v, want all %d HTTP/2.0", protos, len(recs)+1)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (HTTP/2 multiplexes the in-flight requests)", n)
	}
}
