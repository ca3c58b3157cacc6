package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/admin"
	"github.com/crawld/crawld/internal/spill"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/store"
)

// frontier is what the commands need of a frontier beyond the crawler's use.
type frontier interface {
	crawler.Frontier
	Reconfigure(queue.Config)
	Revisit(ctx context.Context) (int, error)
	Close() error
}

func politeness(c crawler.Config) queue.Config {
	return queue.Config{Rate: c.Rate, Burst: c.Burst, PerHostConcurrency: c.PerHostConcurrency, Depths: c.MaxDepth > 0}
}

// daemon is one `crawld run` process: a crawl served until a signal.
type daemon struct {
	flags   *pflag.FlagSet
	s       settings
	level   zap.AtomicLevel
	log     *zap.Logger
	front   frontier
	crawler *crawler.Crawler
	started time.Time
	ready   atomic.Bool
	digest  atomic.Value // string: identifies the running config, for /status
}

// runDaemon is `crawld run`: it crawls the seeds and stays up, serving the
// admin API, until SIGTERM or SIGINT; SIGHUP reloads the config file.
func runDaemon(flags *pflag.FlagSet, s settings, stdout, stderr io.Writer) error {
	if err := checkAdminExposure(s); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	d := &daemon{flags: flags, s: s, started: time.Now()}
	d.digest.Store(digest(s))
	lvl, _ := parseLevel(s.logLevel)
	d.level = zap.NewAtomicLevelAt(lvl)
	log, err := newLogger(d.level, s.logFormat, stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	d.log = log
	defer func() { _ = log.Sync() }()

	// Signals are watched from the start so that one arriving while the
	// store opens is not lost.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	out, err := openOutput(s.output, s.outputMaxSizeMB, s.outputMaxBackups, stdout)
	if err != nil {
		return runtimeError{err}
	}
	defer func() {
		if err := out.Close(); err != nil {
			log.Error("closing output", zap.Error(err))
		}
	}()
	if d.front, err = openFrontier(context.Background(), s, storagePebble, log); err != nil {
		return runtimeError{err}
	}
	defer func() {
		if err := d.front.Close(); err != nil {
			log.Error("closing store", zap.Error(err))
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if rf, ok := d.front.(redisFrontier); ok {
		reg.MustRegister(clusterMetrics(rf)...)
	}
	arch, err := openArchive(s, d.front, storageKind(s, storagePebble) != storageMemory, log)
	if err != nil {
		return runtimeError{err}
	}
	defer func() { _ = arch.close(log) }()
	d.crawler, err = crawler.New(s.crawl, d.front, out.sink(storageKind(s, storagePebble) != storageMemory), log,
		append(arch.options(), crawler.WithRegistry(reg))...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	srv, err := admin.Listen(s.adminListen, admin.Handler(admin.Options{
		Token:    s.adminToken,
		Gatherer: reg,
		Ready:    d.ready.Load,
		Status:   d.status,
		AddSeeds: func(ctx context.Context, urls []string) (any, error) {
			results, err := d.crawler.AddSeeds(ctx, urls)
			return map[string]any{"results": results}, err
		},
		Pprof: s.adminPprof,
	}))
	if err != nil {
		return runtimeError{err}
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if s.adminToken == "" && !isLoopbackListen(s.adminListen) {
		log.Warn("admin API off loopback without a token (admin.insecure): anyone who can reach it may POST /seeds", zap.String("admin", srv.Addr()))
	}
	log.Info("crawld running", zap.String("admin", srv.Addr()), zap.Strings("seeds", s.crawl.Seeds),
		zap.String("storage", storageKind(s, storagePebble)), zap.String("data_dir", s.dataDir), zap.String("output", s.output))

	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	defer stopNow()
	defer abortNow()
	served := make(chan error, 1)
	go func() {
		_, err := d.crawler.Serve(stop, abort)
		served <- err
	}()
	recrawled := make(chan struct{})
	go func() { defer close(recrawled); d.recrawl(stop, s.recrawlInterval) }()
	d.ready.Store(true)

	var graceOver <-chan time.Time
	for {
		select {
		case sig := <-signals:
			switch {
			case sig == syscall.SIGHUP:
				d.reload()
			case stop.Err() == nil:
				log.Info("stopping: no new requests; in-flight ones may finish", zap.Stringer("signal", sig), zap.Duration("grace", s.shutdownGrace))
				d.ready.Store(false)
				d.crawler.Stopping()
				stopNow()
				grace := time.NewTimer(s.shutdownGrace)
				defer grace.Stop()
				graceOver = grace.C
			default:
				log.Warn("second signal: cancelling in-flight requests now", zap.Stringer("signal", sig))
				abortNow()
			}
		case <-graceOver:
			log.Warn("shutdown grace over: cancelling in-flight requests", zap.Duration("grace", s.shutdownGrace))
			abortNow()
		case err := <-served:
			stopNow()
			<-recrawled
			if err != nil {
				return runtimeError{err}
			}
			log.Info("stopped")
			return nil
		}
	}
}

// recrawl waits for each crawl to complete, then recrawl_interval, then
// crawls again every URL known so far (conditional requests make unchanged
// pages a 304), until stop ends.
func (d *daemon) recrawl(stop context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	for {
		if err := d.front.Join(stop); err != nil {
			return
		}
		d.log.Info("crawl complete; next one after the recrawl interval", zap.Duration("recrawl_interval", interval))
		wait := time.NewTimer(interval)
		select {
		case <-stop.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		n, err := d.front.Revisit(stop)
		if err != nil {
			if stop.Err() == nil {
				d.log.Error("recrawl: queueing the known URLs again", zap.Error(err))
			}
			return
		}
		d.log.Info("recrawl started", zap.Int("urls", n))
	}
}

// reload rereads the configuration and applies what can change without a
// restart; an invalid file leaves everything as it was.
func (d *daemon) reload() {
	next, err := loadSettings(d.flags)
	if err != nil {
		d.log.Error("config reload rejected; keeping the running config", zap.Error(err))
		return
	}
	if err := d.crawler.SetAllowedDomains(next.crawl.AllowDomains); err != nil {
		d.log.Error("config reload rejected; keeping the running config", zap.Error(err))
		return
	}
	lvl, _ := parseLevel(next.logLevel)
	d.level.SetLevel(lvl)
	d.front.Reconfigure(politeness(next.crawl))

	// Everything else needs a restart: say so rather than pretend.
	applied := d.s
	applied.crawl.Rate, applied.crawl.Burst = next.crawl.Rate, next.crawl.Burst
	applied.crawl.PerHostConcurrency, applied.crawl.AllowDomains = next.crawl.PerHostConcurrency, next.crawl.AllowDomains
	applied.logLevel = next.logLevel
	if !reflect.DeepEqual(applied, next) {
		d.log.Warn("config reload: some changed keys take effect only after a restart (only rate, burst, per_host_concurrency, allow_domains and log_level are reloaded)")
	}
	d.s = applied // only this goroutine reads d.s after start
	d.digest.Store(digest(applied))
	d.log.Info("config reloaded", zap.Float64("rate", next.crawl.Rate), zap.Int("burst", next.crawl.Burst),
		zap.Int("per_host_concurrency", next.crawl.PerHostConcurrency), zap.Strings("allow_domains", next.crawl.AllowDomains),
		zap.String("log_level", next.logLevel))
}

// daemonStatus is the body of GET /status. In a crawl shared over Redis,
// the frontier's counts are the cluster's and Node and LiveNodes say who
// shares it.
type daemonStatus struct {
	crawler.Status
	UptimeSeconds float64  `json:"uptime_seconds"`
	ConfigDigest  string   `json:"config_digest"`
	Node          string   `json:"node,omitempty"`
	LiveNodes     []string `json:"live_nodes,omitempty"`
}

func (d *daemon) status() any {
	st := daemonStatus{
		Status:        d.crawler.Status(),
		UptimeSeconds: time.Since(d.started).Seconds(),
		ConfigDigest:  d.digest.Load().(string),
	}
	if rf, ok := d.front.(redisFrontier); ok {
		st.Node = rf.NodeID()
		st.LiveNodes = rf.Snapshot().LiveNodes // the heartbeat's: /status never waits on Redis
	}
	return st
}

// digest identifies a configuration, so operators can tell whether a reload
// took and whether two daemons run the same config. Secrets are left out
// (admin.token, the passwords in redis.url and proxy): /status is served
// without the token, and the digest of a guessable secret gives it away.
func digest(s settings) string {
	s.adminToken = ""
	s.redisURL, s.crawl.Proxy = redactURL(s.redisURL), redactURL(s.crawl.Proxy)
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", s))
	return hex.EncodeToString(sum[:8])
}

// checkAdminExposure refuses an admin API that other hosts can reach
// without a token, unless admin.insecure says so: POST /seeds would let
// anyone who reaches the port point the crawler anywhere.
func checkAdminExposure(s settings) error {
	if s.adminToken != "" || s.adminInsecure || isLoopbackListen(s.adminListen) {
		return nil
	}
	return &crawler.ConfigError{Key: "admin.listen", Problem: fmt.Sprintf(
		"%q is not a loopback address and admin.token is empty, so anyone who can reach it could POST /seeds; "+
			"set admin.token (CRAWLD_ADMIN_TOKEN), listen on 127.0.0.1, or set admin.insecure: true to allow it", s.adminListen)}
}

// isLoopbackListen reports whether the listen address addr (host:port)
// accepts connections from this host only: a loopback IP or "localhost".
// An empty host (":9090") listens everywhere; other names are not trusted
// to resolve to loopback.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.WithZone("").Unmap().IsLoopback()
}

// storageKind resolves storage: auto to the command's default.
func storageKind(s settings, fallback string) string {
	if s.storage == storageAuto {
		return fallback
	}
	return s.storage
}

// openFrontier opens the frontier s asks for; auto means fallback.
func openFrontier(ctx context.Context, s settings, fallback string, log *zap.Logger) (frontier, error) {
	if storageKind(s, fallback) == storageRedis {
		return openRedis(ctx, s, log)
	}
	cfg := politeness(s.crawl)
	// The queue's limit is on its live data; Go's collector lets the heap
	// grow to twice the live data (GOGC=100) before it collects, so the
	// queue keeps half the configured memory live and the other half is
	// the collector's headroom.
	cfg.MemoryLimit = s.frontierMemory / 2
	if storageKind(s, fallback) == storagePebble {
		return store.Open(s.dataDir, cfg, store.WithLogger(log.Named("store")))
	}
	// The in-memory frontier keeps every URL and its fetch metadata only
	// when a recrawl will use them, so a one-shot crawl holds just 8-byte
	// fingerprints of the URLs it has seen; with a memory limit, queued
	// URLs beyond it spill to a scratch directory under data_dir, created
	// only if needed and removed by Close.
	cfg.Revisitable = s.recrawlInterval > 0
	if cfg.MemoryLimit > 0 {
		cfg.Overflow = spill.New(s.dataDir, log.Named("spill"))
	}
	return queue.NewMemory(cfg), nil
}
