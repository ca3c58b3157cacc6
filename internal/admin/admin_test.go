package admin

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	base  string
	ready atomic.Bool
	seeds [][]string
}

func start(t *testing.T, token string) *fixture {
	t.Helper()
	f := &fixture{}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "crawld_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	h := Handler(Options{
		Token:    token,
		Gatherer: reg,
		Ready:    f.ready.Load,
		Status:   func() any { return map[string]string{"state": "crawling"} },
		AddSeeds: func(_ context.Context, urls []string) (any, error) {
			f.seeds = append(f.seeds, urls)
			return map[string]int{"accepted": len(urls)}, nil
		},
	})
	srv, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	f.base = "http://" + srv.Addr()
	return f
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProbesMetricsStatus(t *testing.T) {
	f := start(t, "")
	if code, _ := do(t, "GET", f.base+"/healthz", "", ""); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := do(t, "GET", f.base+"/readyz", "", ""); code != 503 {
		t.Errorf("/readyz before ready: %d, want 503", code)
	}
	f.ready.Store(true)
	if code, _ := do(t, "GET", f.base+"/readyz", "", ""); code != 200 {
		t.Errorf("/readyz when ready: %d, want 200", code)
	}
	if code, body := do(t, "GET", f.base+"/metrics", "", ""); code != 200 || !strings.Contains(body, "crawld_test_total 3") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	code, body := do(t, "GET", f.base+"/status", "", "")
	var st map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st["state"] != "crawling" {
		t.Errorf("/status: %d %q", code, body)
	}
	if code, _ := do(t, "GET", f.base+"/debug/pprof/", "", ""); code != 404 {
		t.Errorf("pprof is off by default, got %d", code)
	}
	if code, _ := do(t, "DELETE", f.base+"/status", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /status: %d, want 405", code)
	}
}

func TestSeeds(t *testing.T) {
	const token = "s3cret"
	tests := []struct {
		name     string
		token    string
		body     string
		want     int
		wantText string
	}{
		{"no token", "", `{"urls":["http://a/"]}`, 401, "bearer token"},
		{"wrong token", "nope", `{"urls":["http://a/"]}`, 401, "bearer token"},
		{"bad json", token, `{"urls": [`, 400, "must be JSON"},
		{"unknown field", token, `{"url":"http://a/"}`, 400, "unknown field"},
		{"no urls", token, `{"urls":[]}`, 400, "at least one URL"},
		{"two objects", token, `{"urls":["http://a/"]}{}`, 400, "one JSON object"},
		{"too big", token, `{"urls":["` + strings.Repeat("a", maxSeedsBody) + `"]}`, 400, "body over"},
		{"accepted", token, `{"urls":["http://a/","http://b/"]}`, 200, `"accepted": 2`},
	}
	f := start(t, token)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, "POST", f.base+"/seeds", tt.token, tt.body)
			if code != tt.want || !strings.Contains(body, tt.wantText) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.want, tt.wantText)
			}
		})
	}
	if len(f.seeds) != 1 || len(f.seeds[0]) != 2 {
		t.Errorf("seeds passed on: %v, want only the accepted request's two", f.seeds)
	}
}

// TestListen_SlowClients checks the server's limits on clients that hold
// connections: one sending its headers a byte at a time is disconnected
// (by the header timeout), and an oversized header block is refused.
func TestListen_SlowClients(t *testing.T) {
	f := start(t, "")
	addr := strings.TrimPrefix(f.base, "http://")

	t.Run("slowloris", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan error, 1)
		go func() {
			// The server says nothing until the headers end: any read
			// result means it gave up on the connection.
			_, err := conn.Read(make([]byte, 1))
			closed <- err
		}()
		if _, err := io.WriteString(conn, "GET /status HTTP/1.1\r\nHost: admin\r\n"); err != nil {
			t.Fatal(err)
		}
		drip := time.NewTicker(100 * time.Millisecond)
		defer drip.Stop()
		hang := time.NewTimer(60 * time.Second) // bounds a hang; the header timeout is 5 s
		defer hang.Stop()
		for {
			select {
			case <-closed:
				return
			case <-drip.C:
				// One more byte of an endless header line; a write error
				// also means the server closed the connection.
				if _, err := io.WriteString(conn, "X"); err != nil {
					<-closed
					return
				}
			case <-hang.C:
				conn.Close()
				<-closed
				t.Fatal("a client dripping its headers still holds its connection after 60 s")
			}
		}
	})

	t.Run("huge header", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, f.base+"/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Padding", strings.Repeat("a", 256<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d for 256 KiB of headers, want 431", resp.StatusCode)
		}
	})
}
