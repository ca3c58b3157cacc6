package crawler

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// Archive keeps the HTTP exchanges of a crawl (warc.Writer does, as WARC
// files). WriteExchange returns where the response was stored; an error
// means it may not be, so the item is not done.
// Sync makes every exchange written before it durable (a group commit);
// the crawler calls it before an item's record is written, so that
// neither the record nor the item's Done can outlive, in a crash, the
// exchange they point at.
type Archive interface {
	WriteExchange(context.Context, warc.Exchange) (warc.Location, error)
	Sync() error
}

var _ Archive = (*warc.Writer)(nil)

// WithArchive keeps every page's HTTP exchange in a, and names where in
// each record (digest, warc_file, warc_offset, warc_length).
func WithArchive(a Archive) Option {
	return func(c *Crawler) error {
		c.archive = a
		c.fetcher.capture = true
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
			if host, _, err := net.SplitHostPort(info.Conn.RemoteAddr().String()); err == nil {
				c.ip = host
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
				c.request.WriteString(key + ": " + v + "\r\n")
			}
		},
	}
}

// exchange is what was captured of req and its response, in the form the
// archive takes: the request line, then the header fields as written (a
// Host field first if the transport wrote none, as HTTP/2's :authority).
func (c *capture) exchange(req *http.Request, resp *response) warc.Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	var head bytes.Buffer
	head.WriteString(req.Method + " " + req.URL.RequestURI() + " HTTP/1.1\r\n")
	if !c.host {
		head.WriteString("Host: " + req.URL.Host + "\r\n")
	}
	head.Write(c.request.Bytes())
	head.WriteString("\r\n")
	header := resp.header.Clone()
	if resp.decoded {
		// Go's transport took the gzip coding off (it asked for it): the
		// payload stored is the decoded body, as the headers now say.
		header.Set("X-Crawld-Decoded-Content-Encoding", "gzip")
	}
	return warc.Exchange{
		URL:      req.URL.String(),
		Date:     c.sentAt.UTC(),
		IP:       c.ip,
		Protocol: strings.ToLower(resp.proto),
		Request:  head.Bytes(),
		Status:   resp.status,
		Header:   header,
		Body:     resp.body,
	}
}

// archiveExchange keeps resp's exchange in the archive, if there is one,
// and names where in rec. An error means the page's record would point
// nowhere: it ends the crawl, and the item is not done.
func (c *Crawler) archiveExchange(ctx context.Context, it queue.Item, rec *Record, resp *response) error {
	if c.archive == nil || resp.exchange == nil {
		return nil
	}
	ex := resp.exchange()
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
	if captures != nil && ex.Status == http.StatusOK && !ex.Truncated && (ex.Header.Get("ETag") != "" || ex.Header.Get("Last-Modified") != "") {
		if err := captures.SaveCapture(it.URL, queue.Capture(loc.Original)); err != nil {
			c.log.Warn("archived capture not saved", zap.String("url", it.URL), zap.Error(err))
		}
	}
	return nil
}
