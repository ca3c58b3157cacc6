package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// hostileHosts is how many loopback hosts the hostile site spreads over.
const hostileHosts = 8

// hostileHandler serves a site made of what the open web throws at
// crawlers, all at once: every page links to an endless body, a gzip bomb,
// a calendar that never ends and a flood of links; its sitemaps are a
// nesting bomb and an endless index (addHostileSitemaps).
func hostileHandler() http.Handler {
	mux := http.NewServeMux()
	addHostileSitemaps(mux)
	mux.HandleFunc("/endless/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		chunk := []byte(strings.Repeat("<p>endless ", 6000))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/bomb/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zeros := make([]byte, 1<<20)
		for range 1 << 10 { // 1 GiB decompressed
			if _, err := zw.Write(zeros); err != nil {
				return
			}
		}
		zw.Close()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Every other path is a calendar day: links to the next days, the
		// traps above and a flood of further days.
		var n int
		fmt.Sscanf(r.URL.Query().Get("day"), "%d", &n)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<a href="/endless/%d">e</a><a href="/bomb/%d">b</a>`, n, n)
		for i := 1; i <= 200; i++ {
			fmt.Fprintf(w, `<a href="/cal?day=%d">day</a>`, n*200+i)
		}
	})
	return mux
}

// tinyPageBytes is the size of a tiny-elements page: just under the
// default max_body (10 MiB), so that crawld parses every one.
const tinyPageBytes = 10<<20 - 4096

// tinyHandler serves pages made of millions of the smallest elements, the
// page that costs an HTML tree builder the most per byte (about 40 times
// the body), each ending in links to further such pages on every host.
func tinyHandler(hosts []string) http.Handler {
	body := bytes.Repeat([]byte("<p>"), (tinyPageBytes-1024)/3)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Query().Get("n"), "%d", &n)
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(body)
		for i, h := range hosts {
			fmt.Fprintf(w, `<a href="http://%s/tiny?n=%d">next</a>`, h, n*len(hosts)+i+1)
		}
	})
}

// measureHostile crawls the hostile site with 32 workers and reports
// crawld's peak RSS.
func measureHostile(ctx context.Context, binary string) (result, error) {
	return measureHostileSite(ctx, binary, func([]string) http.Handler { return hostileHandler() },
		"--workers", "32", "--per-host-concurrency", "4", "--max-pages", "20000", "--sitemaps")
}

// measureHostileTiny crawls 48 pages of 10 MiB of tiny elements with 16
// workers and the default max_body (10 MiB) and max_body_memory (32 MiB),
// and reports crawld's peak RSS.
func measureHostileTiny(ctx context.Context, binary string) (result, error) {
	return measureHostileSite(ctx, binary, tinyHandler,
		"--workers", "16", "--per-host-concurrency", "4", "--max-pages", "48", "--max-body", "10MiB")
}

// measureHostileSite serves the site handler makes (given every host's
// address) on hostileHosts loopback hosts, crawls it with args and reports
// crawld's peak RSS.
func measureHostileSite(ctx context.Context, binary string, handler func(hosts []string) http.Handler, args ...string) (result, error) {
	var (
		servers []*http.Server
		seeds   []string
		wg      sync.WaitGroup
	)
	defer func() {
		for _, s := range servers {
			s.Close()
		}
		wg.Wait()
	}()
	var (
		lns   []net.Listener
		hosts []string
	)
	for i := range hostileHosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 2+i))
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return result{}, err
		}
		lns, hosts = append(lns, ln), append(hosts, ln.Addr().String())
	}
	for _, ln := range lns {
		srv := &http.Server{Handler: handler(hosts), ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "hostile server:", err)
			}
		}()
		seeds = append(seeds, "--seed", "http://"+ln.Addr().String()+"/")
	}
	args = append(append([]string{"crawl", "--rate", "0", "--max-retries", "0", "--allow-cidr", "127.0.0.0/8",
		"--log-level", "error", "--progress-interval", "0"}, args...), seeds...)
	cmd := exec.CommandContext(ctx, binary, args...)
	var records lineCounter
	cmd.Stdout = &records
	cmd.Stderr = os.Stderr
	res, _, err := runCrawld(cmd, nil)
	if err != nil {
		return result{}, err
	}
	res.pages, res.noLog = records.lines, true
	return res, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
