// Package admin serves crawld's admin HTTP API: health and readiness probes,
// Prometheus metrics, a JSON status page and runtime seeding.
//
// It knows nothing of the crawler: the daemon passes in functions that
// answer each endpoint. None of them may wait on crawl work, so the API
// stays responsive however busy or stuck the workers are; the server runs
// on its own goroutines with its own timeouts.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxSeedsBody caps a POST /seeds body.
const maxSeedsBody = 1 << 20

// maxHeaderBytes caps a request's header block; a bigger one is answered
// 431 Request Header Fields Too Large.
const maxHeaderBytes = 64 << 10

// Options are the endpoints' answers.
type Options struct {
	// Token, if not empty, must be sent as "Authorization: Bearer <Token>"
	// to POST /seeds.
	Token string
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports whether the daemon is ready (config loaded, storage
	// open, workers started); /readyz answers 503 until it is.
	Ready func() bool
	// Status returns the JSON body of GET /status.
	Status func() any
	// AddSeeds admits urls and returns the JSON body of the answer.
	AddSeeds func(ctx context.Context, urls []string) (any, error)
	// Pprof mounts net/http/pprof under /debug/pprof/.
	Pprof bool
}

// Handler returns the admin API.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !opts.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, opts.Status())
	})
	mux.HandleFunc("POST /seeds", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, opts.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crawld"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		var req struct {
			URLs []string `json:"urls"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSeedsBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("body over %d bytes", maxSeedsBody))
				return
			}
			writeError(w, http.StatusBadRequest, `body must be JSON like {"urls": ["https://example.com/"]}: `+err.Error())
			return
		}
		if dec.More() {
			writeError(w, http.StatusBadRequest, "body must hold one JSON object")
			return
		}
		if len(req.URLs) == 0 {
			writeError(w, http.StatusBadRequest, `"urls" must list at least one URL`)
			return
		}
		answer, err := opts.AddSeeds(r.Context(), req.URLs)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, answer)
	})
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// authorized reports whether r carries the bearer token, comparing in
// constant time; an empty token authorises everyone.
func authorized(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// Server is the admin API listening on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen binds addr and serves h on it until Shutdown.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      2 * time.Minute, // a CPU profile takes 30 s by default
			IdleTimeout:       2 * time.Minute,
			// A bearer token and the usual headers fit many times over;
			// Go's default (1 MiB) would let each connection hold a
			// megabyte of headers.
			MaxHeaderBytes: maxHeaderBytes,
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the server, letting requests in progress finish until ctx
// ends, and waits for its goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
