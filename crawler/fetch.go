package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"time"
)

// errBodyTooLarge marks a body cut off at MaxBody.
var errBodyTooLarge = errors.New("body too large")

// newClient builds the HTTP client shared by all workers. Redirects are not
// followed here: the crawler re-queues each hop so that it is filtered,
// deduplicated and paced like any other request to its host.
func newClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Keep as many idle connections to a host as requests may be in
		// flight to it, so politeness-paced requests reuse connections.
		MaxIdleConnsPerHost: cfg.PerHostConcurrency,
		MaxIdleConns:        cfg.Workers * 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.FetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// response is what a fetch brings back: the status and headers, and the body
// read up to the size limit.
type response struct {
	status     int
	statusText string // e.g. "503 Service Unavailable"
	header     http.Header
	body       []byte
	latency    time.Duration // until the response headers arrived
}

// fetch GETs rawURL, reading at most maxBody bytes of the (decompressed) body.
// A body over the limit is an error wrapping errBodyTooLarge, so a huge page
// cannot exhaust memory; the connection is then closed rather than drained.
// Extra headers (conditional-request validators) are added to the request.
func fetch(ctx context.Context, client *http.Client, rawURL, userAgent string, maxBody int64, extra http.Header) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, extra)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	latency := time.Since(start)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w (> %d bytes)", errBodyTooLarge, maxBody)
	}
	return &response{status: resp.StatusCode, statusText: resp.Status, header: resp.Header, body: body, latency: latency}, nil
}
