package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/redisq"
)

// settings is the whole configuration of a crawld process: the crawl itself
// plus what only the command deals with (output and logging).
type settings struct {
	crawl     crawler.Config
	output    string
	logLevel  string
	logFormat string

	// The daemon's (crawld run) own settings.
	outputMaxSizeMB  int
	outputMaxBackups int
	adminListen      string
	adminToken       string
	adminInsecure    bool // admin.insecure: listen off loopback without a token
	adminPprof       bool
	storage          string // auto, memory, pebble or redis
	dataDir          string
	redisURL         string
	redisCrawlID     string
	redisLeaseTTL    time.Duration
	redisRobotsMem   int64 // redis.robots_memory, bytes
	nodeID           string
	frontierMemory   int64 // frontier_memory_limit, bytes; 0 = unbounded
	shutdownGrace    time.Duration
	recrawlInterval  time.Duration

	// The archive (warc.*).
	warcDir      string // empty: no archive
	warcMaxSize  int64
	warcPrefix   string
	warcCompress bool
	warcCDXJ     bool
	warcWACZ     bool
	warcDedupe   bool
}

func defaultSettings() settings {
	return settings{
		crawl:            crawler.DefaultConfig(),
		output:           "-",
		logLevel:         "info",
		logFormat:        "json",
		outputMaxSizeMB:  100,
		outputMaxBackups: 10,
		adminListen:      "127.0.0.1:9090",
		storage:          "auto",
		dataDir:          "crawld-data",
		redisURL:         "redis://127.0.0.1:6379/0",
		redisCrawlID:     "crawld",
		redisLeaseTTL:    redisq.DefaultLeaseTTL,
		redisRobotsMem:   redisq.DefaultRobotsMemory,
		frontierMemory:   256 << 20,
		shutdownGrace:    10 * time.Second,
		warcMaxSize:      1 << 30,
		warcPrefix:       "crawld",
		warcCompress:     true,
		warcCDXJ:         true,
		warcDedupe:       true,
	}
}

// Storage kinds.
const (
	storageAuto   = "auto"   // memory for crawl, pebble for run
	storageMemory = "memory" // nothing survives the process
	storagePebble = "pebble" // the embedded store in data_dir
	storageRedis  = "redis"  // a crawl shared by every node on one Redis
)

// option is one key of the user-facing contract (shared/design/cli.md): its
// YAML key, its flag and environment variable, and how its value is decoded
// into settings. Listing every key once here keeps the three sources in step.
type option struct {
	key    string
	flag   string
	define func(fs *pflag.FlagSet) // registers the flag with its default
	decode func(raw any) error     // stores the value from viper
	def    any                     // the default, for viper
}

// newOption builds an option for a value of type T stored at dst. The
// current value of *dst is the default.
func newOption[T any](key, flag, usage string, dst *T, parse func(any) (T, error),
	define func(fs *pflag.FlagSet, name string, def T, usage string)) option {
	def := *dst
	return option{
		key:    key,
		flag:   flag,
		define: func(fs *pflag.FlagSet) { define(fs, flag, def, usage) },
		decode: func(raw any) error {
			v, err := parse(raw)
			if err != nil {
				return err
			}
			*dst = v
			return nil
		},
		def: def,
	}
}

func intOpt(key, flag, usage string, dst *int) option {
	return newOption(key, flag, usage, dst, cast.ToIntE, func(fs *pflag.FlagSet, n string, d int, u string) { fs.Int(n, d, u) })
}

func floatOpt(key, flag, usage string, dst *float64) option {
	return newOption(key, flag, usage, dst, cast.ToFloat64E, func(fs *pflag.FlagSet, n string, d float64, u string) { fs.Float64(n, d, u) })
}

func boolOpt(key, flag, usage string, dst *bool) option {
	return newOption(key, flag, usage, dst, cast.ToBoolE, func(fs *pflag.FlagSet, n string, d bool, u string) { fs.Bool(n, d, u) })
}

func stringOpt(key, flag, usage string, dst *string) option {
	return newOption(key, flag, usage, dst, cast.ToStringE, func(fs *pflag.FlagSet, n string, d string, u string) { fs.String(n, d, u) })
}

func durationOpt(key, flag, usage string, dst *time.Duration) option {
	return newOption(key, flag, usage, dst, cast.ToDurationE, func(fs *pflag.FlagSet, n string, d time.Duration, u string) { fs.Duration(n, d, u) })
}

// listOpt is a repeatable flag. A list given as one string (an environment
// variable) is split on whitespace, since URLs may contain commas.
func listOpt(key, flag, usage string, dst *[]string) option {
	parse := func(raw any) ([]string, error) {
		list, err := cast.ToStringSliceE(raw)
		if len(list) == 0 {
			return nil, err // an empty list and an absent one mean the same
		}
		return list, err
	}
	return newOption(key, flag, usage, dst, parse, func(fs *pflag.FlagSet, n string, d []string, u string) { fs.StringArray(n, d, u) })
}

func sizeOpt(key, flag, usage string, dst *int64) option {
	return newOption(key, flag, usage, dst, parseSize, func(fs *pflag.FlagSet, n string, d int64, u string) { fs.String(n, strconv.FormatInt(d, 10), u) })
}

// parseSize reads a byte count: a plain integer, or one with a unit such as
// "512KiB", "10MiB", "1GB".
func parseSize(raw any) (int64, error) {
	s := strings.TrimSpace(cast.ToString(raw))
	units := []struct {
		suffix string
		scale  int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	scale := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, scale = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unable to cast %#v to a byte size (e.g. 10485760 or 10MiB)", raw)
	}
	return n * scale, nil
}

// options lists every key, bound to the fields of s.
func options(s *settings) []option {
	c := &s.crawl
	return []option{
		listOpt("seeds", "seed", "start URL (repeatable)", &c.Seeds),
		intOpt("max_pages", "max-pages", "total pages fetched; 0 = unlimited", &c.MaxPages),
		intOpt("max_depth", "max-depth", "link depth from a seed; 0 = unlimited", &c.MaxDepth),
		intOpt("workers", "workers", "worker pool size", &c.Workers),
		floatOpt("rate", "rate", "per-host requests per second; 0 = unlimited", &c.Rate),
		intOpt("burst", "burst", "per-host burst", &c.Burst),
		intOpt("per_host_concurrency", "per-host-concurrency", "requests in flight per host", &c.PerHostConcurrency),
		listOpt("allow_domains", "allow-domain", "allowed host; *.example.com or .example.com include subdomains (repeatable; default: the seeds' hosts)", &c.AllowDomains),
		listOpt("allow_schemes", "allow-scheme", "allowed URL scheme (repeatable)", &c.AllowSchemes),
		listOpt("allow_extensions", "allow-ext", `allowed file extension; "" = no extension (repeatable)`, &c.AllowExtensions),
		stringOpt("user_agent", "user-agent", "User-Agent header, also matched against robots.txt", &c.UserAgent),
		stringOpt("robots_token", "robots-token", "product token matched against robots.txt and robots meta tags (default: from user_agent)", &c.RobotsToken),
		boolOpt("robots", "robots", "obey robots.txt", &c.Robots),
		durationOpt("robots_ttl", "robots-ttl", "how long a robots.txt is trusted; at most 24h", &c.RobotsTTL),
		durationOpt("max_crawl_delay", "max-crawl-delay", "cap on a robots.txt Crawl-delay", &c.MaxCrawlDelay),
		intOpt("max_retries", "max-retries", "retries of a URL after a transient failure (timeout, reset, 429, 5xx)", &c.MaxRetries),
		durationOpt("retry_backoff", "retry-backoff", "first back-off after a failure; doubles with each failure in a row", &c.RetryBackoff),
		durationOpt("max_retry_after", "max-retry-after", "cap on Retry-After and on the back-off", &c.MaxRetryAfter),
		intOpt("max_host_failures", "max-host-failures", "failed requests in a row before a host is set aside", &c.MaxHostFailures),
		boolOpt("autothrottle", "autothrottle", "adapt each host's delay to its latency", &c.Autothrottle),
		floatOpt("autothrottle_target_concurrency", "autothrottle-target-concurrency", "requests autothrottle aims to keep in flight per host", &c.AutothrottleTargetConcurrency),
		durationOpt("autothrottle_start_delay", "autothrottle-start-delay", "a host's delay before its latency is known", &c.AutothrottleStartDelay),
		durationOpt("autothrottle_max_delay", "autothrottle-max-delay", "cap on autothrottle's delay", &c.AutothrottleMaxDelay),
		boolOpt("follow_nofollow", "follow-nofollow", `follow links marked rel="nofollow"`, &c.FollowNofollow),
		boolOpt("sitemaps", "sitemaps", "read sitemaps listed in robots.txt and /sitemap.xml", &c.Sitemaps),
		intOpt("max_sitemaps_per_host", "max-sitemaps-per-host", "sitemaps queued because of one host (robots.txt lines, /sitemap.xml, index entries); 0 = no cap", &c.MaxSitemapsPerHost),
		sizeOpt("max_body", "max-body", "largest response body read, in bytes (units KiB, MiB, GiB allowed)", &c.MaxBody),
		sizeOpt("max_body_memory", "max-body-memory", "memory all bodies held at once may take; over it, a fetch waits for memory, then is retried later; 0 = no bound", &c.MaxBodyMemory),
		sizeOpt("max_header_bytes", "max-header-bytes", "largest response header block read; over it, the record's error is \"response headers too large\"", &c.MaxHeaderBytes),
		sizeOpt("max_robots_memory", "max-robots-memory", "memory the parsed robots.txt rules of all hosts may take; least recently used are dropped; 0 = no bound", &c.MaxRobotsMemory),
		durationOpt("connect_timeout", "connect-timeout", "TCP connect and TLS handshake timeout", &c.ConnectTimeout),
		durationOpt("header_timeout", "header-timeout", "wait for response headers", &c.HeaderTimeout),
		durationOpt("fetch_timeout", "fetch-timeout", "whole fetch, body included", &c.FetchTimeout),
		durationOpt("read_idle_timeout", "read-idle-timeout", "longest wait for the next bytes of a body", &c.ReadIdleTimeout),
		boolOpt("allow_private_networks", "allow-private-networks", "permit loopback, private, link-local and other special-purpose addresses", &c.AllowPrivateNetworks),
		listOpt("allow_cidrs", "allow-cidr", "permit just this network although special-purpose, e.g. 127.0.0.0/8 (repeatable)", &c.AllowCIDRs),
		stringOpt("proxy", "proxy", `forward proxy for every request, http://host:port or https://host:port; its own address is trusted, each target is still checked by the address guard; HTTP_PROXY/HTTPS_PROXY are ignored; "" = direct`, &c.Proxy),
		intOpt("max_url_length", "max-url-length", "longest URL admitted, in bytes; 0 = no cap", &c.MaxURLLength),
		intOpt("max_path_segments", "max-path-segments", "most path segments in a URL admitted; 0 = no cap", &c.MaxPathSegments),
		intOpt("max_redirects", "max-redirects", "longest redirect chain followed", &c.MaxRedirects),
		durationOpt("dns_cache_ttl", "dns-cache-ttl", "how long resolved addresses are cached in process; 0 = no cache", &c.DNSCacheTTL),
		intOpt("max_links_per_page", "max-links-per-page", "links taken from one page; 0 = no cap", &c.MaxLinksPerPage),
		intOpt("max_pages_per_host", "max-pages-per-host", "pages admitted from one host; 0 = no cap", &c.MaxPagesPerHost),
		durationOpt("progress_interval", "progress-interval", "how often a progress line is logged; 0 = never", &c.ProgressInterval),
		stringOpt("output", "output", "JSONL records file, appended to; - = stdout", &s.output),
		stringOpt("log_level", "log-level", "debug, info, warn or error", &s.logLevel),
		stringOpt("log_format", "log-format", "json or console", &s.logFormat),
		intOpt("output_max_size_mb", "output-max-size-mb", "crawld run: rotate the output file at this size", &s.outputMaxSizeMB),
		intOpt("output_max_backups", "output-max-backups", "crawld run: rotated output files kept", &s.outputMaxBackups),
		stringOpt("admin.listen", "admin-listen", "crawld run: admin API address", &s.adminListen),
		stringOpt("admin.token", "admin-token", "crawld run: bearer token required by POST /seeds", &s.adminToken),
		boolOpt("admin.insecure", "admin-insecure", "crawld run: allow admin.listen off loopback without admin.token, leaving POST /seeds open to anyone who can reach it", &s.adminInsecure),
		boolOpt("admin.pprof", "admin-pprof", "crawld run: serve /debug/pprof on the admin API", &s.adminPprof),
		stringOpt("storage", "storage", "auto (memory for crawl, pebble for run), memory, pebble or redis (a crawl shared by several nodes)", &s.storage),
		stringOpt("redis.url", "redis-url", "storage redis: the Redis holding the shared crawl (redis://, rediss://, unix://)", &s.redisURL),
		stringOpt("redis.crawl_id", "redis-crawl-id", "storage redis: nodes with the same crawl id share one crawl", &s.redisCrawlID),
		durationOpt("redis.lease_ttl", "redis-lease-ttl", "storage redis: how long a page's lease outlives its node's last renewal (every heartbeat renews the leases of pages in flight)", &s.redisLeaseTTL),
		sizeOpt("redis.robots_memory", "redis-robots-memory", "storage redis: memory the shared robots.txt outcomes may take in Redis (units KiB, MiB, GiB allowed)", &s.redisRobotsMem),
		stringOpt("node_id", "node-id", "storage redis: this node's name in leases, records and /status; default hostname-pid-random", &s.nodeID),
		stringOpt("data_dir", "data-dir", "directory of the embedded store (and of the frontier's spill files)", &s.dataDir),
		sizeOpt("frontier_memory_limit", "frontier-memory-limit", "memory the queued URLs may take; beyond it they spill to disk under data_dir; 0 = no bound", &s.frontierMemory),
		durationOpt("shutdown_grace", "shutdown-grace", "crawld run: time in-flight requests get to finish after SIGTERM", &s.shutdownGrace),
		durationOpt("recrawl_interval", "recrawl-interval", "crawld run: wait this long after a crawl completes, then crawl the seeds again; 0 = never", &s.recrawlInterval),
		stringOpt("warc.dir", "warc-dir", "write every page's HTTP exchange as WARC/1.1 files in this directory; empty = no archive", &s.warcDir),
		sizeOpt("warc.max_size", "warc-max-size", "start a new WARC file beyond about this size (units KiB, MiB, GiB allowed)", &s.warcMaxSize),
		stringOpt("warc.prefix", "warc-prefix", "first part of every WARC file name", &s.warcPrefix),
		boolOpt("warc.compress", "warc-compress", "one gzip member per WARC record, in .warc.gz files", &s.warcCompress),
		boolOpt("warc.cdxj", "warc-cdxj", "write a sorted CDXJ index (pywb, ReplayWeb.page) beside each finished WARC file", &s.warcCDXJ),
		boolOpt("warc.wacz", "warc-wacz", "crawld crawl: package the WARC files of the crawl, their index and its pages as DIR/PREFIX-TIMESTAMP.wacz at its end", &s.warcWACZ),
		boolOpt("warc.dedupe", "warc-dedupe", "revisit records (headers only) for payloads already archived in the crawl and for 304s to a recrawl's conditional requests; false = every response in full", &s.warcDedupe),
	}
}

// defineFlags registers every option's flag on fs.
func defineFlags(fs *pflag.FlagSet) {
	s := defaultSettings()
	fs.String("config", "", "YAML config file")
	for _, o := range options(&s) {
		o.define(fs)
	}
}

// minLeaseTTL is the shortest redis.lease_ttl accepted: three heartbeats.
const minLeaseTTL = redisq.LeaseBeats * redisq.DefaultHeartbeat

// errUsage marks configuration errors, which exit with code 2.
var errUsage = errors.New("usage")

// loadSettings merges defaults, the config file named by --config, CRAWLD_*
// environment variables and the flags set on fs, in rising precedence, and
// validates the result. Every error names the key at fault and wraps errUsage.
func loadSettings(fs *pflag.FlagSet) (settings, error) {
	s := defaultSettings()
	opts := options(&s)
	v := viper.New()
	v.SetEnvPrefix("CRAWLD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, o := range opts {
		v.SetDefault(o.key, o.def)
		if err := v.BindEnv(o.key); err != nil {
			return s, err
		}
		if err := v.BindPFlag(o.key, fs.Lookup(o.flag)); err != nil {
			return s, err
		}
	}
	path, _ := fs.GetString("config")
	if path == "" {
		path = os.Getenv("CRAWLD_CONFIG")
	}
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return s, fmt.Errorf("%w: config: %s: %v", errUsage, path, oneLine(err))
		}
	}
	known := make([]string, 0, len(opts))
	for _, o := range opts {
		known = append(known, o.key)
	}
	for _, key := range v.AllKeys() {
		if !slices.Contains(known, key) {
			return s, fmt.Errorf("%w: %s: unknown key (every key is listed in configs/crawld.yaml)", errUsage, key)
		}
	}
	for _, o := range opts {
		if err := o.decode(v.Get(o.key)); err != nil {
			return s, fmt.Errorf("%w: %s: %v", errUsage, o.key, err)
		}
	}
	if err := s.validate(); err != nil {
		return s, fmt.Errorf("%w: %v", errUsage, err)
	}
	return s, nil
}

func (s settings) validate() error {
	if err := s.crawl.Validate(); err != nil {
		return err
	}
	if s.output == "" {
		return &crawler.ConfigError{Key: "output", Problem: `must be a file path or "-" for stdout`}
	}
	if _, err := parseLevel(s.logLevel); err != nil {
		return &crawler.ConfigError{Key: "log_level", Problem: err.Error()}
	}
	if s.logFormat != "json" && s.logFormat != "console" {
		return &crawler.ConfigError{Key: "log_format", Problem: fmt.Sprintf("must be json or console (got %q)", s.logFormat)}
	}
	switch s.storage {
	case storageAuto, storageMemory, storagePebble:
	case storageRedis:
		if s.redisURL == "" || s.redisCrawlID == "" {
			return &crawler.ConfigError{Key: "redis.url", Problem: "storage redis needs redis.url and redis.crawl_id"}
		}
		if s.recrawlInterval > 0 {
			return &crawler.ConfigError{Key: "recrawl_interval", Problem: "recrawls are not supported with storage redis yet; set it to 0"}
		}
		if s.crawl.MaxDepth > redisq.MaxDepthKept {
			return &crawler.ConfigError{Key: "max_depth", Problem: fmt.Sprintf("at most %d with storage redis, whose seen set keeps a URL's depth in 6 bits (got %d)", redisq.MaxDepthKept, s.crawl.MaxDepth)}
		}
	default:
		return &crawler.ConfigError{Key: "storage", Problem: fmt.Sprintf("must be auto, memory, pebble or redis (got %q)", s.storage)}
	}
	if s.redisLeaseTTL < minLeaseTTL {
		return &crawler.ConfigError{Key: "redis.lease_ttl", Problem: fmt.Sprintf(
			"must be at least %v (got %v): the heartbeat renews leases every %v, and a lease must outlive two missed beats and a brief stall of the node or of Redis, or its page is fetched twice and its host's per_host_concurrency exceeded",
			minLeaseTTL, s.redisLeaseTTL, redisq.DefaultHeartbeat)}
	}
	if s.redisRobotsMem < redisq.MaxRobotsEntry {
		return &crawler.ConfigError{Key: "redis.robots_memory", Problem: fmt.Sprintf("must be at least %dKiB, the largest robots.txt outcome shared (got %d bytes)", redisq.MaxRobotsEntry>>10, s.redisRobotsMem)}
	}
	if s.warcWACZ && !s.warcCDXJ {
		return &crawler.ConfigError{Key: "warc.wacz", Problem: "needs warc.cdxj: the package's index is the WARC files' indexes merged"}
	}
	for _, v := range []struct {
		key string
		bad bool
	}{
		{"data_dir", s.dataDir == ""},
		{"admin.listen", s.adminListen == ""},
		{"output_max_size_mb", s.outputMaxSizeMB <= 0},
		{"output_max_backups", s.outputMaxBackups < 0},
		{"shutdown_grace", s.shutdownGrace < 0},
		{"recrawl_interval", s.recrawlInterval < 0},
		{"warc.max_size", s.warcMaxSize <= 0},
		{"warc.prefix", s.warcPrefix == ""},
	} {
		if v.bad {
			return &crawler.ConfigError{Key: v.key, Problem: "must be set to a positive value (see configs/crawld.yaml)"}
		}
	}
	return nil
}

// oneLine folds a multi-line error (YAML parsers write several) into one.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
