// Command colly-bench crawls one site with Colly (github.com/gocolly/colly/v2),
// configured as closely to crawld's benchmark settings as Colly allows, so that
// bench/compare.sh can set the two side by side:
//
//	colly-bench -seed http://127.0.0.2:PORT/ -max-pages 100000 -workers 16 -out /dev/null
//
// It stays on the seed's host (AllowedDomains), obeys robots.txt, follows
// every a[href] with no depth limit and no delay, and keeps at most -workers
// requests in flight (LimitRule.Parallelism). Each response is written as a
// JSON line {"url":...,"status":...} to -out, and a one-line JSON summary
// goes to stderr when the crawl ends.
//
// Colly has no "max pages" of its own that fits (MaxRequests counts requests
// as they are queued, not pages fetched), so the limit is kept here: once
// -max-pages responses have arrived, no new link is visited, and every
// request still queued is aborted in OnRequestHeaders, which Colly calls
// after the request got one of the -workers slots and just before it goes on
// the wire. Requests already on the wire at that moment still complete, so
// pages_requested and responses may exceed -max-pages slightly (by at most
// about -workers); both are reported.
//
// Why OnRequestHeaders and not OnRequest: with colly.Async(true), OnRequest
// runs as soon as Visit starts the request's goroutine, before the goroutine
// waits for a parallelism slot; on a large site nearly every URL ever
// discovered passes OnRequest long before it is fetched. The number of
// OnRequest calls is reported too, as "queued".
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocolly/colly/v2"
)

// summary is the one-line JSON report printed to stderr.
type summary struct {
	// PagesRequested counts requests that reached the wire (robots.txt,
	// fetched by Colly outside the callbacks, is not included).
	PagesRequested int64 `json:"pages_requested"`
	// Responses counts HTTP responses of any status.
	Responses int64 `json:"responses"`
	// Duplicates counts requests for a URL that had been requested before,
	// compared as sent to the server (fragment removed).
	Duplicates int64 `json:"duplicates"`
	// DuplicatesExact counts those whose full URL, fragment included, had
	// been requested before: what Colly's own visited set should prevent.
	DuplicatesExact int64   `json:"duplicates_exact"`
	Queued          int64   `json:"queued"`
	Errors          int64   `json:"errors"`
	Seconds         float64 `json:"seconds"`
}

// record is one line of -out.
type record struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
}

func main() {
	os.Exit(run())
}

func run() int {
	seed := flag.String("seed", "", "start URL (required)")
	maxPages := flag.Int64("max-pages", 0, "stop after this many responses; 0 = unlimited")
	workers := flag.Int("workers", 16, "requests in flight at once (LimitRule.Parallelism)")
	out := flag.String("out", os.DevNull, "file for one JSON line {url,status} per response")
	stripFragment := flag.Bool("strip-fragment", false, "remove #fragment from links before visiting them (Colly keeps it, so page.html#a and page.html#b are two requests)")
	timeout := flag.Duration("timeout", 30*time.Second, "whole-request timeout (crawld's --fetch-timeout default)")
	flag.Parse()
	if *seed == "" || *workers < 1 {
		flag.Usage()
		return 2
	}
	seedURL, err := url.Parse(*seed)
	if err != nil || seedURL.Hostname() == "" {
		fmt.Fprintf(os.Stderr, "colly-bench: bad -seed %q\n", *seed)
		return 2
	}

	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "colly-bench:", err)
		return 1
	}
	w := bufio.NewWriterSize(f, 1<<16)
	var outMu sync.Mutex
	enc := json.NewEncoder(w)
	write := func(u string, status int) {
		outMu.Lock()
		_ = enc.Encode(record{URL: u, Status: status})
		outMu.Unlock()
	}

	c := colly.NewCollector(
		colly.Async(true),
		colly.AllowedDomains(seedURL.Hostname()),
		colly.MaxDepth(0), // unlimited
	)
	c.IgnoreRobotsTxt = false
	if err := c.Limit(&colly.LimitRule{DomainGlob: "*", Parallelism: *workers}); err != nil {
		fmt.Fprintln(os.Stderr, "colly-bench:", err)
		return 1
	}
	// Colly's default client uses http.DefaultTransport, which keeps only 2
	// idle connections per host: with 16 requests in flight to one host most
	// connections would be closed after one request. crawld keeps
	// --per-host-concurrency idle connections per host; do the same.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = *workers
	transport.MaxIdleConns = *workers * 4
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	c.WithTransport(transport)
	c.SetRequestTimeout(*timeout)

	var (
		queued, requested, responses, errs atomic.Int64
		dups, dupsExact                    atomic.Int64
		stopped                            atomic.Bool
		seenMu                             sync.Mutex
		seenWire                           = make(map[string]struct{})
		seenExact                          = make(map[string]struct{})
	)
	countResponse := func() {
		if n := responses.Add(1); *maxPages > 0 && n >= *maxPages {
			stopped.Store(true)
		}
	}

	c.OnRequest(func(r *colly.Request) {
		queued.Add(1)
		if stopped.Load() {
			r.Abort()
		}
	})
	c.OnRequestHeaders(func(r *colly.Request) {
		// Called once the request holds a parallelism slot, right before
		// it is sent.
		if stopped.Load() {
			r.Abort()
			return
		}
		requested.Add(1)
		exact := r.URL.String()
		wire := *r.URL
		wire.Fragment, wire.RawFragment = "", ""
		seenMu.Lock()
		if _, ok := seenWire[wire.String()]; ok {
			dups.Add(1)
		} else {
			seenWire[wire.String()] = struct{}{}
		}
		if _, ok := seenExact[exact]; ok {
			dupsExact.Add(1)
		} else {
			seenExact[exact] = struct{}{}
		}
		seenMu.Unlock()
	})
	c.OnResponse(func(r *colly.Response) {
		write(r.Request.URL.String(), r.StatusCode)
		countResponse()
	})
	c.OnError(func(r *colly.Response, err error) {
		switch {
		case errors.Is(err, colly.ErrAbortedBeforeRequest):
			return // aborted above once the limit was reached
		case r != nil && r.StatusCode != 0:
			// An HTTP response with an error status (Colly reports
			// status >= 203 as an error): a page fetched all the same.
			write(r.Request.URL.String(), r.StatusCode)
			countResponse()
		default:
			errs.Add(1)
			fmt.Fprintf(os.Stderr, "colly-bench: %s: %v\n", r.Request.URL, err)
		}
	})
	c.OnHTML("a[href]", func(e *colly.HTMLElement) {
		if stopped.Load() {
			return
		}
		link := e.Request.AbsoluteURL(e.Attr("href"))
		if link == "" {
			return
		}
		if *stripFragment {
			if i := strings.IndexByte(link, '#'); i >= 0 {
				link = link[:i]
			}
		}
		// Errors here are Colly refusing the link (already visited,
		// other domain, robots.txt): expected and ignored.
		_ = e.Request.Visit(link)
	})

	start := time.Now()
	if err := c.Visit(*seed); err != nil {
		fmt.Fprintln(os.Stderr, "colly-bench: seed:", err)
		return 1
	}
	c.Wait()
	elapsed := time.Since(start)

	code := 0
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "colly-bench:", err)
		code = 1
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "colly-bench:", err)
		code = 1
	}
	s := summary{
		PagesRequested:  requested.Load(),
		Responses:       responses.Load(),
		Duplicates:      dups.Load(),
		DuplicatesExact: dupsExact.Load(),
		Queued:          queued.Load(),
		Errors:          errs.Load(),
		Seconds:         elapsed.Seconds(),
	}
	line, _ := json.Marshal(s)
	fmt.Fprintln(os.Stderr, string(line))
	if s.Responses == 0 {
		fmt.Fprintln(os.Stderr, "colly-bench: no page fetched")
		code = 1
	}
	return code
}
