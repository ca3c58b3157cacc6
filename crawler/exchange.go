package crawler

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// Archive keeps the HTTP exchanges of a crawl (warc.Writer does, as WARC
// files). WriteExchange returns where the response was stored; an error
// means it may not be, so the item is not done. Sync hands every exchange
// written before it to the operating system, and makes them durable when
// the frontier is (a group commit); the crawler calls it before an item's
// record is written, so that neither the record nor the item's Done can
// outlive, in a crash, the exchange they point at.
type Archive interface {
	WriteExchange(context.Context, warc.Exchange) (warc.Location, error)
	Sync() error
}

var _ Archive = (*warc.Writer)(nil)

// WithArchive keeps every HTTP exchange in a: every response received for
// a page (redirects, error statuses, each attempt of a retried item, a body
// cut at max_body), a sitemap or robots.txt (each of its redirects), and
// names where in each record the page's last one is (digest, warc_file,
// warc_offset, warc_length).
func WithArchive(a Archive) Option {
	return func(c *Crawler) error {
		c.archive = a
		c.fetcher.capture = true
		if c.robots != nil {
			c.robots.capture = true
		}
		return nil
	}
}

// capture records a request as the transport writes it, and the address
// it was sent to, through httptrace; the hooks may run on the transport's
// goroutines, hence the lock.
type capture struct {
	mu      sync.Mutex
	sentAt  time.Time
	ip      string
	request bytes.Buffer // header fields as written, "Name: value\r\n" each
	host    bool         // a Host field was written
}

// trace returns the hooks that fill c.
func (c *capture) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c.mu.Lock()
			defer c.mu.Unlock()
			// A new attempt (the transport retries a request whose
			// kept-alive connection had closed) writes the fields anew.
			c.request.Reset()
			c.host = false
			switch addr := info.Conn.RemoteAddr().(type) {
			case *net.TCPAddr:
				c.ip = addr.IP.String()
			default:
				if host, _, err := net.SplitHostPort(addr.String()); err == nil {
					c.ip = host
				}
			}
			c.sentAt = time.Now()
		},
		WroteHeaderField: func(key string, values []string) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if strings.HasPrefix(key, ":") {
				return // HTTP/2 pseudo-headers: the request line stands for them
			}
			if strings.EqualFold(key, "Host") {
				c.host = true
			}
			for _, v := range values {
				c.request.WriteString(key)
				c.request.WriteString(": ")
				c.request.WriteString(v)
				c.request.WriteString("\r\n")
			}
		},
	}
}

// traced returns ctx with hooks that capture the request made with it,
// and the capture, when on; else ctx itself and nil.
func traced(ctx context.Context, on bool) (context.Context, *capture) {
	if !on {
		return ctx, nil
	}
	c := &capture{}
	return httptrace.WithClientTrace(ctx, c.trace()), c
}

// attach lets resp give its exchange (response.exchange), if c captured
// req; c may be nil.
func (c *capture) attach(req *http.Request, resp *response) {
	if c != nil {
		resp.exchange = func() warc.Exchange { return c.exchange(req, resp) }
	}
}

// exchange is what was captured of req and its response, in the form the
// archive takes: the request line, then the header fields as written (a
// Host field first if the transport wrote none, as HTTP/2's :authority).
func (c *capture) exchange(req *http.Request, resp *response) warc.Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	uri := req.URL.RequestURI()
	head := make([]byte, 0, len(req.Method)+len(uri)+len(req.URL.Host)+c.request.Len()+32)
	head = append(append(append(append(head, req.Method...), ' '), uri...), " HTTP/1.1\r\n"...)
	if !c.host {
		head = append(append(append(head, "Host: "...), req.URL.Host...), "\r\n"...)
	}
	head = append(append(head, c.request.Bytes()...), "\r\n"...)
	header := resp.header
	if resp.decoded {
		// Go's transport took the gzip coding off (it asked for it): the
		// payload stored is the decoded body, as the headers now say.
		header = header.Clone()
		header.Set("X-Crawld-Decoded-Content-Encoding", "gzip")
	}
	return warc.Exchange{
		URL:       req.URL.String(),
		Date:      c.sentAt.UTC(),
		IP:        c.ip,
		Protocol:  alpnID(resp.proto),
		Request:   head,
		Status:    resp.status,
		Header:    header,
		Body:      resp.body,
		Truncated: resp.truncated,
	}
}

// alpnID names an HTTP version as WARC-Protocol does, by its ALPN protocol
// ID ("h2", "http/1.1").
func alpnID(proto string) string {
	if proto == "HTTP/2.0" {
		return "h2"
	}
	return strings.ToLower(proto)
}

// archiveItem keeps the exchange of resp, a response to item it, in the
// archive, if there is one, and names where in rec. A page's (not a
// sitemap's) response gets a metadata record too: the links found on it
// and, for a redirect's target, the URL that redirected. An error means
// the page's record would point nowhere: it ends the crawl, and the item
// is not done.
func (c *Crawler) archiveItem(ctx context.Context, rec *Record, it queue.Item, resp *response, links []*url.URL) error {
	if c.archive == nil || resp.exchange == nil {
		return nil
	}
	ex := resp.exchange()
	if it.Kind != queue.KindSitemap {
		ex.Metadata = &warc.Metadata{FetchTime: time.Duration(rec.DurationMS) * time.Millisecond}
		// Heritrix's via: the URL that led here, the one that redirected
		// to it or else the page linking to it.
		ex.Metadata.Via = it.Referrer
		if chain := redirectChain(it); len(chain) > 1 {
			ex.Metadata.Via = chain[len(chain)-2]
		}
		ex.Metadata.Outlinks = make([]string, len(links))
		for i, l := range links {
			ex.Metadata.Outlinks[i] = l.String()
		}
	}
	captures := c.caps.captures
	if captures != nil && ex.Status == http.StatusNotModified {
		// The 304 answers the conditional request made from the
		// validators kept with this capture: it refers to it.
		prev, _ := captures.Capture(it.URL)
		ex.Previous = warc.Capture(prev)
	}
	loc, err := c.archive.WriteExchange(ctx, ex)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	rec.Digest, rec.WARCFile, rec.WARCOffset, rec.WARCLength = loc.Digest, loc.File, loc.Offset, loc.Length
	rec.Revisit = loc.Revisit
	// Only a full 200 can be the original of a later 304; a URL without
	// validators is never asked conditionally.
	if captures != nil && ex.Status == http.StatusOK && ex.Truncated == "" && (ex.Header.Get("ETag") != "" || ex.Header.Get("Last-Modified") != "") {
		if err := captures.SaveCapture(it.URL, queue.Capture(loc.Original)); err != nil {
			c.log.Warn("archived capture not saved", zap.String("url", it.URL), zap.Error(err))
		}
	}
	return nil
}

// archiveExchanges keeps exchanges no record names (robots.txt's) in the
// archive, if there is one. An error ends the crawl, as for a page's.
func (c *Crawler) archiveExchanges(ctx context.Context, exchanges []warc.Exchange) error {
	if c.archive == nil {
		return nil
	}
	for _, ex := range exchanges {
		if _, err := c.archive.WriteExchange(ctx, ex); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	return nil
}
