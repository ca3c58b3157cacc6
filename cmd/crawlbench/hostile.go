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

// measureHostile crawls the hostile site with 32 workers and reports
// crawld's peak RSS.
func measureHostile(ctx context.Context, binary string) (result, error) {
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
	for i := range hostileHosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 2+i))
		if err != nil {
			return result{}, err
		}
		srv := &http.Server{Handler: hostileHandler(), ReadHeaderTimeout: 5 * time.Second}
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
	args := append([]string{"crawl", "--rate", "0", "--workers", "32", "--per-host-concurrency", "4",
		"--max-pages", "20000", "--max-retries", "0", "--allow-cidr", "127.0.0.0/8",
		"--log-level", "error", "--progress-interval", "0", "--sitemaps"}, seeds...)
	cmd := exec.CommandContext(ctx, binary, args...)
	var records lineCounter
	cmd.Stdout = &records
	cmd.Stderr = os.Stderr
	start := time.Now()
	proc, err := startMetered(cmd)
	if err != nil {
		return result{}, fmt.Errorf("crawld: %w", err)
	}
	if err := proc.wait(); err != nil {
		return result{}, fmt.Errorf("crawld: %w", err)
	}
	res := result{wall: time.Since(start), pages: records.lines, noLog: true, cpu: proc.cpu()}
	if res.peakRSS, err = proc.peakRSS(); err != nil {
		return result{}, err
	}
	return res, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
