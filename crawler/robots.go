package crawler

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/temoto/robotstxt"
)

// maxRobotsBody is the most of a robots.txt that is parsed; RFC 9309 2.5
// requires crawlers to parse at least 500 KiB and lets them ignore the rest.
const maxRobotsBody = 500 << 10

// maxRobotsRedirects is how many redirects a robots.txt fetch follows
// (RFC 9309 2.3.1.2: at least five).
const maxRobotsRedirects = 5

// robotsCache holds the robots.txt rules of every authority (scheme://host)
// seen in this crawl. An entry is created when the authority's first URL is
// admitted and filled when its robots.txt item has been fetched; pages of the
// authority wait for that, so none is fetched before its rules are known.
type robotsCache struct {
	agent  string       // the product token matched against User-agent lines
	client *http.Client // follows up to maxRobotsRedirects redirects

	mu      sync.Mutex // guards entries
	entries map[string]*robotsEntry
}

type robotsEntry struct {
	ready chan struct{} // closed once rules is set
	rules *robotstxt.RobotsData
}

func newRobotsCache(userAgent string, pages *http.Client) *robotsCache {
	client := *pages
	client.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if len(via) > maxRobotsRedirects {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &robotsCache{agent: productToken(userAgent), client: &client, entries: make(map[string]*robotsEntry)}
}

// productToken returns the name robots.txt groups are matched against:
// "crawld" for "crawld/1.0 (+https://…)".
func productToken(userAgent string) string {
	token, _, _ := strings.Cut(userAgent, "/")
	token, _, _ = strings.Cut(token, " ")
	return token
}

// add registers authority and reports whether it was new, in which case the
// caller must queue its robots.txt.
func (c *robotsCache) add(authority string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[authority]; ok {
		return false
	}
	c.entries[authority] = &robotsEntry{ready: make(chan struct{})}
	return true
}

// fetch retrieves robotsURL and stores the rules for its authority. Status
// handling follows RFC 9309 2.3.1: 4xx means no restrictions; 5xx or an
// unreachable server means the whole site is disallowed.
func (c *robotsCache) fetch(ctx context.Context, robotsURL, userAgent string) error {
	u, err := url.Parse(robotsURL)
	if err != nil {
		return err
	}
	rules, err := c.download(ctx, robotsURL, userAgent)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rules, _ = robotstxt.FromStatusAndBytes(http.StatusServiceUnavailable, nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if entry := c.entries[u.Scheme+"://"+u.Host]; entry != nil && entry.rules == nil {
		entry.rules = rules
		close(entry.ready)
	}
	return err
}

func (c *robotsCache) download(ctx context.Context, robotsURL, userAgent string) (*robotstxt.RobotsData, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, robotsURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRobotsBody))
	if err != nil {
		return nil, err
	}
	status := resp.StatusCode
	if status >= 300 && status < 400 {
		status = http.StatusNotFound // redirects exhausted: unavailable (RFC 9309 2.3.1.2)
	}
	data, err := robotstxt.FromStatusAndBytes(status, body)
	if err != nil {
		// The library rejects whole files over lines RFC 9309 says to skip;
		// a file we cannot read places no restriction we could honour.
		data, _ = robotstxt.FromStatusAndBytes(http.StatusNotFound, nil)
	}
	return data, nil
}

// allowed reports whether u may be fetched, waiting until the rules of its
// authority are known or ctx is done.
func (c *robotsCache) allowed(ctx context.Context, u *url.URL) (bool, error) {
	c.mu.Lock()
	entry := c.entries[u.Scheme+"://"+u.Host]
	c.mu.Unlock()
	if entry == nil {
		return true, nil
	}
	select {
	case <-entry.ready:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if u.Path == "/robots.txt" {
		return true, nil // RFC 9309 2.2.2: always allowed
	}
	return entry.rules.TestAgent(u.RequestURI(), c.agent), nil
}
