package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// scenarioStall is the -scenario name of the slow-server measurement.
const scenarioStall = "stall"

// stallCase is one way a server can hold crawld: where it stalls (the page,
// or robots.txt, so that the host is set aside) and how.
type stallCase struct {
	name   string
	robots bool          // robots.txt stalls, rather than the page
	how    string        // "never", "drip", "headers" or "503"
	bound  time.Duration // what the README promises
	want   string        // what each record's error contains
}

func stallCases() []stallCase {
	var cases []stallCase
	for _, how := range []string{"never", "drip", "headers"} {
		cases = append(cases, stallCase{name: "page-" + how, how: how, bound: 90 * time.Second, want: "timeout"})
	}
	for _, how := range []string{"never", "drip", "headers", "503"} {
		cases = append(cases, stallCase{name: "robots-" + how, robots: true, how: how, bound: 150 * time.Second, want: "host set aside"})
	}
	return cases
}

// stall serves, until stop is closed, what a stalling server sends: no
// answer at all, a body one byte a second, header lines one a second, or a
// 503.
func stall(how string, stop <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		switch how {
		case "503":
			http.Error(w, "down", http.StatusServiceUnavailable)
		case "never":
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		case "drip":
			w.Header().Set("Content-Type", "text/html")
			for {
				select {
				case <-r.Context().Done():
					return
				case <-stop:
					return
				case <-tick.C:
					fmt.Fprint(w, "x")
					w.(http.Flusher).Flush()
				}
			}
		case "headers":
			conn, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line := "HTTP/1.1 200 OK"
			for n := 0; ; n++ {
				if _, err := rw.WriteString(line + "\r\n"); err != nil || rw.Flush() != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				line = fmt.Sprintf("X-Slow-%d: 1", n)
			}
		}
	}
}

// stallResult is one case's outcome.
type stallResult struct {
	c       stallCase
	wall    time.Duration
	exit    int
	records int
	matched int // records whose error contains c.want
	pages   int // requests other than robots.txt
	err     error
}

// measureStall runs crawld with its defaults against each stalling server
// at once (each its own host, the servers idle while they stall) and prints
// how long each crawl took, with its exit code and records.
func measureStall(ctx context.Context, binary string, stdout io.Writer) int {
	cases := stallCases()
	results := make([]stallResult, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() { results[i] = runStall(ctx, binary, c, 2+i) })
	}
	wg.Wait()
	fmt.Fprintln(stdout, "| case | crawl s | bound s | exit | records | with error | page requests |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	code := 0
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(stdout, "| %s | error: %v | | | | | |\n", r.c.name, r.err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "| %s | %.1f | %.0f | %d | %d | %d | %d |\n", r.c.name, r.wall.Seconds(), r.c.bound.Seconds(), r.exit, r.records, r.matched, r.pages)
		pagesOK := !r.c.robots || r.pages == 0
		if r.exit != 0 || r.records == 0 || r.matched != r.records || !pagesOK || r.wall > r.c.bound {
			code = 1
		}
	}
	return code
}

func runStall(ctx context.Context, binary string, c stallCase, host int) stallResult {
	res := stallResult{c: c}
	stop := make(chan struct{})
	var mu sync.Mutex
	mux := http.NewServeMux()
	slow := stall(c.how, stop)
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		if c.robots {
			slow(w, r)
			return
		}
		http.NotFound(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		res.pages++
		mu.Unlock()
		if !c.robots {
			slow(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "page")
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", host))
	if err != nil {
		res.err = err
		return res
	}
	srv := &http.Server{Handler: mux}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	defer func() { close(stop); srv.Close(); <-served }()

	base := "http://" + ln.Addr().String()
	seeds := []string{"--seed", base + "/"}
	if c.robots {
		seeds = append(seeds, "--seed", base+"/a", "--seed", base+"/b")
	}
	cmd := exec.CommandContext(ctx, binary, append([]string{"crawl", "--allow-cidr", "127.0.0.0/8", "--log-level", "error"}, seeds...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	err = cmd.Run()
	res.wall = time.Since(start)
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.exit = exitErr.ExitCode()
	case err != nil:
		res.err = err
		return res
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var rec struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			res.err = fmt.Errorf("record %q: %w", sc.Text(), err)
			return res
		}
		res.records++
		if strings.Contains(rec.Error, c.want) {
			res.matched++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return res
}
