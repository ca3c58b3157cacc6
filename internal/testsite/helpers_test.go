package testsite

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

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
