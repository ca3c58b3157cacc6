package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
)

// measureCluster runs sc.nodes crawld processes on one crawl shared in a
// private redis-server, all started at once with the same seed, each with
// its own output, and measures the cluster: wall time until the last node
// exits, CPU summed over the nodes, the largest node's peak RSS, every page
// recorded once across the outputs, what the site's log says of politeness,
// and Redis's CPU time and commands over the crawl.
func measureCluster(ctx context.Context, binary string, sc scenario) (result, error) {
	site, err := testsite.Start(sc.site)
	if err != nil {
		return result{}, err
	}
	defer site.Close()
	dir, err := os.MkdirTemp("", "crawlbench-cluster")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	rs, err := startRedis(dir)
	if err != nil {
		return result{}, err
	}
	defer rs.stop()
	before, err := rs.usage(ctx)
	if err != nil {
		return result{}, err
	}

	// A node that fails cancels the others rather than leave them waiting
	// for work it held.
	nodeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := []string{"crawl", "--seed", site.SeedURL(),
		"--rate", fmt.Sprint(sc.rate), "--burst", fmt.Sprint(sc.burst),
		"--log-level", "warn", "--log-format", "json", "--progress-interval", "0", "--allow-cidr", "127.0.0.0/8",
		"--storage", "redis", "--redis-url", rs.URL, "--redis-crawl-id", "crawlbench"}
	env := append(os.Environ(), "CRAWLD_ALLOW_DOMAINS="+strings.Join(site.Domains(), " "))
	type node struct {
		id, out string
		proc    *meteredProc
		log     *lineWriter
		err     error
	}
	nodes := make([]*node, sc.nodes)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		nd := &node{id: id, out: filepath.Join(dir, id+".jsonl")}
		args := append(append(append([]string(nil), base...), "--node-id", id, "--output", nd.out), sc.args...)
		cmd := exec.CommandContext(nodeCtx, binary, args...)
		cmd.Env = env
		nd.log = &lineWriter{line: nodeLogFilter(id, os.Stderr)}
		cmd.Stderr = nd.log
		if nd.proc, err = startMetered(cmd); err != nil {
			cancel()
			wg.Wait()
			return result{}, fmt.Errorf("start crawld %s: %w", id, err)
		}
		nodes[i] = nd
		wg.Go(func() {
			if nd.err = nd.proc.wait(); nd.err != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	res := result{wall: time.Since(start), perNode: make([]int, len(nodes))}
	var errs []error
	for _, nd := range nodes {
		nd.log.flush()
		if nd.err != nil {
			errs = append(errs, fmt.Errorf("crawld %s: %w", nd.id, nd.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	after, err := rs.usage(ctx)
	if err != nil {
		return result{}, err
	}
	used := after.sub(before)
	res.redis = &used

	for _, nd := range nodes {
		rss, err := nd.proc.peakRSS()
		if err != nil {
			return result{}, err
		}
		res.peakRSS = max(res.peakRSS, rss)
		res.rssSum += rss
		res.cpu += nd.proc.cpu()
	}
	records := newRecordChecker(site)
	for i, nd := range nodes {
		f, err := os.Open(nd.out)
		if err != nil {
			return result{}, err
		}
		n, err := checkNodeRecords(records, nd.id, f)
		f.Close()
		if err != nil {
			return result{}, err
		}
		res.perNode[i] = n
	}
	if res.pages, err = records.done(); err != nil {
		return result{}, err
	}
	judgeSite(site, sc, start, &res)
	return res, nil
}

// checkNodeRecords feeds one node's JSONL output to records, which checks
// the pages across all the nodes, and checks that every record names the
// node that wrote it. It returns how many records the node wrote.
func checkNodeRecords(records *recordChecker, node string, out io.Reader) (int, error) {
	before := records.n
	var nodeErr error
	w := &lineWriter{line: func(line []byte) {
		if nodeErr != nil || records.err != nil || len(strings.TrimSpace(string(line))) == 0 {
			return
		}
		var rec struct {
			URL  string `json:"url"`
			Node string `json:"node"`
		}
		// A line that is not JSON is the checker's to report.
		if json.Unmarshal(line, &rec) == nil && rec.Node != node {
			nodeErr = fmt.Errorf("node %s wrote a record of node %q for %s", node, rec.Node, rec.URL)
			return
		}
		records.record(line)
	}}
	if _, err := io.Copy(w, out); err != nil {
		return 0, err
	}
	w.flush() // a partial last line is a truncated record, an error
	if nodeErr != nil {
		return 0, nodeErr
	}
	if records.err != nil {
		return 0, fmt.Errorf("node %s: %w", node, records.err)
	}
	return records.n - before, nil
}

// nodeLogFilter returns a line handler for a node's JSON log that forwards
// each line to w prefixed with the node's id, but for the warning that
// Redis keeps no AOF: the benchmark's Redis is a throwaway on purpose.
func nodeLogFilter(node string, w io.Writer) func([]byte) {
	return func(line []byte) {
		var entry struct {
			Msg     string `json:"msg"`
			Warning string `json:"warning"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Msg == "redis" && strings.Contains(entry.Warning, "appendonly") {
			return
		}
		fmt.Fprintf(w, "%s: %s\n", node, line)
	}
}

// redisServer is a redis-server of crawlbench's own (see redistest.Launch:
// a free loopback port, a temporary directory, no snapshots and no AOF),
// with a client for reading its usage.
type redisServer struct {
	*redistest.Server
	client *redis.Client
}

// startRedis starts redis-server in dir and waits until it answers PING.
// stop kills it.
func startRedis(dir string) (*redisServer, error) {
	s, err := redistest.Launch(dir)
	if err != nil {
		return nil, fmt.Errorf("the cluster scenarios need redis-server: %w", err)
	}
	return &redisServer{Server: s, client: redis.NewClient(&redis.Options{Addr: s.Addr})}, nil
}

// stop kills the server and waits for it to exit.
func (r *redisServer) stop() {
	r.client.Close()
	r.Close()
}

// usage reads the server's CPU time and command count.
func (r *redisServer) usage(ctx context.Context) (redisUsage, error) {
	text, err := r.client.Info(ctx, "cpu", "stats", "commandstats").Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("redis INFO: %w", err)
	}
	return usageFromInfo(text)
}

// redisUsage is what INFO tells of the work Redis has done since it started.
type redisUsage struct {
	cpu time.Duration // used_cpu_sys + used_cpu_user: the server process's CPU time
	// commands is total_commands_processed, which counts the commands Lua
	// scripts run as well as those clients send.
	commands int64
	scripts  int64 // the EVALSHA and EVAL calls of clients (commandstats)
}

// sub is the work done between v and u, v read first.
func (u redisUsage) sub(v redisUsage) redisUsage {
	return redisUsage{cpu: u.cpu - v.cpu, commands: u.commands - v.commands, scripts: u.scripts - v.scripts}
}

// parseInfo reads INFO's answer: "key:value" lines, "# Section" headers and
// blank lines, with CRLF line ends.
func parseInfo(text string) map[string]string {
	fields := make(map[string]string)
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// usageFromInfo reads the CPU time and command counts from INFO's answer
// for the cpu, stats and commandstats sections; a field missing or
// unreadable is an error, not a zero that would make Redis look free, but
// for the commandstats of a command never called, which INFO leaves out.
func usageFromInfo(text string) (redisUsage, error) {
	fields := parseInfo(text)
	var u redisUsage
	for _, k := range []string{"used_cpu_sys", "used_cpu_user"} {
		v, err := strconv.ParseFloat(fields[k], 64)
		if err != nil {
			return redisUsage{}, fmt.Errorf("redis INFO: %s %q", k, fields[k])
		}
		u.cpu += time.Duration(v * float64(time.Second))
	}
	n, err := strconv.ParseInt(fields["total_commands_processed"], 10, 64)
	if err != nil {
		return redisUsage{}, fmt.Errorf("redis INFO: total_commands_processed %q", fields["total_commands_processed"])
	}
	u.commands = n
	for _, k := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
		v, ok := fields[k]
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil || !strings.HasPrefix(v, "calls=") {
			return redisUsage{}, fmt.Errorf("redis INFO: %s %q", k, v)
		}
		u.scripts += n
	}
	return u, nil
}
