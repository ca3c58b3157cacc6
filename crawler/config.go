package crawler

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/internal/buildinfo"
	"github.com/crawld/crawld/internal/netguard"
)

// Config is everything one crawl needs to know. cmd/crawld fills it from
// flags, CRAWLD_* variables and the config file, whose keys its option table
// (cmd/crawld/options.go) maps to these fields; this package never reads any
// of those sources itself. Which fields the nodes of a crawl shared over
// Redis must agree on is said in identity.go.
type Config struct {
	// Seeds are the absolute http(s) URLs the crawl starts from (required).
	Seeds []string
	// MaxPages caps the pages admitted to the crawl, and so the records
	// written; 0 means unlimited.
	MaxPages int
	// MaxDepth caps the link distance from a seed (seeds have depth 0);
	// 0 means unlimited. The distance is the shortest found, with a
	// frontier that keeps depths (queue.Config.Depths, which cmd/crawld
	// sets when MaxDepth > 0): a page reached again through a shorter path
	// has its links followed from there.
	MaxDepth int
	// Workers is the number of concurrent fetchers shared by all hosts.
	Workers int
	// Rate is the per-host request rate in requests per second; 0 means
	// unlimited (only PerHostConcurrency applies).
	Rate float64
	// Burst is how many requests a host may receive at once after being idle.
	Burst int
	// PerHostConcurrency caps the requests in flight to one host.
	PerHostConcurrency int
	// AllowDomains lists the hosts that may be crawled; "*.example.com" and
	// ".example.com" also admit subdomains. Empty means the seeds' hosts.
	AllowDomains []string
	// AllowSchemes lists the URL schemes that may be crawled.
	AllowSchemes []string
	// AllowExtensions lists the file extensions that may be crawled; ""
	// stands for URLs whose last path segment has no extension.
	AllowExtensions []string
	// UserAgent is sent with every request and matched against robots.txt
	// groups by its product token (the part before the first "/").
	UserAgent string
	// RobotsToken is the product token matched against robots.txt
	// User-agent lines and robots meta tag names; "" means the UserAgent's
	// product token (the text before its first "/").
	RobotsToken string
	// Robots reports whether robots.txt is fetched and obeyed.
	Robots bool
	// RobotsTTL is how long a robots.txt is trusted before it is fetched
	// again; at most 24 hours (RFC 9309 2.4).
	RobotsTTL time.Duration
	// MaxCrawlDelay caps a robots.txt Crawl-delay, so one file cannot stall
	// a host for hours; a capped value is logged.
	MaxCrawlDelay time.Duration
	// MaxRetries is how many times a URL is retried after a transient
	// failure (timeout, reset, 429, 5xx) before it is recorded as an error.
	// A timeout is retried only after the URL's first try, since each
	// costs up to FetchTimeout.
	MaxRetries int
	// RetryBackoff is the first back-off after a failure; it doubles with
	// each failure in a row, with jitter.
	RetryBackoff time.Duration
	// MaxRetryAfter caps both a server's Retry-After and the back-off.
	MaxRetryAfter time.Duration
	// MaxHostFailures is how many requests in a row may fail before a host
	// is set aside: its remaining URLs are then recorded as errors without
	// being requested.
	MaxHostFailures int
	// Autothrottle makes each host's delay follow its latency (Scrapy's
	// AutoThrottle), never faster than Rate and Crawl-delay allow.
	Autothrottle bool
	// AutothrottleTargetConcurrency is the average number of requests
	// autothrottle aims to keep in flight to each host.
	AutothrottleTargetConcurrency float64
	// AutothrottleStartDelay is a host's delay before its latency is known.
	AutothrottleStartDelay time.Duration
	// AutothrottleMaxDelay caps the delay autothrottle may set.
	AutothrottleMaxDelay time.Duration
	// FollowNofollow reports whether links marked rel="nofollow" are followed.
	FollowNofollow bool
	// Sitemaps reports whether the Sitemap lines of robots.txt and each
	// host's /sitemap.xml are read for URLs to crawl (requires Robots).
	Sitemaps bool
	// MaxSitemapsPerHost caps the sitemaps queued because of one host: the
	// Sitemap lines of its robots.txt, its /sitemap.xml and the sitemaps
	// its index files list, wherever they are. A sitemap index that lists
	// new sitemaps each time it is read cannot keep the crawl going; 0
	// means no cap. Each crawler counts its own (per node in a shared
	// crawl, since its start).
	MaxSitemapsPerHost int
	// MaxBody is the largest response body read, in bytes; a larger body is
	// recorded as an error.
	MaxBody int64
	// MaxBodyMemory bounds the bytes of bodies all workers hold at once; a
	// fetch whose body would go over it waits, within its FetchTimeout, for
	// other bodies to be given back, and is retried later (without counting
	// against its host) if that time runs out. 0 means no bound.
	MaxBodyMemory int64
	// MaxHeaderBytes is the most bytes of response headers read; a larger
	// header block is recorded as the error "response headers too large".
	MaxHeaderBytes int64
	// MaxRobotsMemory bounds the memory the parsed robots.txt rules of all
	// authorities take; over it, the least recently used are dropped (and
	// fetched again when their authority is next crawled). 0 means no
	// bound.
	MaxRobotsMemory int64
	// ConnectTimeout bounds the TCP connect and TLS handshake.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for the response headers once the
	// request is sent, and a whole robots.txt fetch.
	HeaderTimeout time.Duration
	// FetchTimeout bounds a whole fetch, body included.
	FetchTimeout time.Duration
	// ReadIdleTimeout bounds the wait for the next bytes of a body, so a
	// server dripping bytes is abandoned long before FetchTimeout.
	ReadIdleTimeout time.Duration
	// AllowPrivateNetworks lets the crawler connect to loopback, private,
	// link-local and other special-purpose addresses, which it refuses by
	// default so that no page can point it at internal services (SSRF).
	AllowPrivateNetworks bool
	// AllowCIDRs are networks let through although special-purpose, e.g.
	// "127.0.0.0/8" for tests or an intranet's range.
	AllowCIDRs []string
	// MaxURLLength is the longest URL admitted, in bytes; 0 means no cap.
	MaxURLLength int
	// MaxPathSegments is the most path segments a URL admitted may have; 0
	// means no cap. A path repeating one segment more than three times
	// ("/a/b/a/b/a/b/a") is refused as a trap whatever this is.
	MaxPathSegments int
	// DNSCacheTTL is how long a name's addresses are kept in the crawler's
	// own DNS cache (failures for at most 30 s); 0 turns the cache off.
	DNSCacheTTL time.Duration
	// Proxy is the forward proxy every request (pages, robots.txt,
	// sitemaps) is sent through: an http:// or https:// URL, with
	// user:password for the proxy's basic auth if it needs one; "" means
	// direct connections. HTTP_PROXY, HTTPS_PROXY and NO_PROXY are ignored,
	// as Heritrix does: a proxy taken from the environment would hide each
	// target from the private-address guard. The proxy's own address is
	// trusted (an operator's explicit choice, often on a private network);
	// each request's target is resolved and checked by the guard before it
	// is handed to the proxy.
	Proxy string
	// MaxRedirects is the longest redirect chain followed from an admitted
	// URL; the record of a longer one says "too many redirects".
	MaxRedirects int
	// MaxLinksPerPage caps the links taken from one page; 0 means no cap.
	MaxLinksPerPage int
	// MaxPagesPerHost caps the pages admitted from one host, so an endless
	// space (a calendar, session IDs in URLs) cannot take the whole crawl;
	// 0 means no cap.
	MaxPagesPerHost int
	// ProgressInterval is how often a progress line is logged; 0 disables it.
	ProgressInterval time.Duration
}

// maxSegmentRepeats is how often one path segment may occur before a URL
// counts as a trap (calendars, relative-link loops: "/a/b/a/b/a/b/a").
const maxSegmentRepeats = 3

// DefaultConfig returns the defaults documented in configs/crawld.yaml. Seeds
// are left empty: a crawl has no sensible default start.
func DefaultConfig() Config {
	return Config{
		Workers:            16,
		Rate:               1,
		Burst:              1,
		PerHostConcurrency: 1,
		AllowSchemes:       []string{"http", "https"},
		AllowExtensions:    []string{"html", "htm", "php", ""},
		UserAgent:          buildinfo.UserAgent(),
		Robots:             true,
		RobotsTTL:          24 * time.Hour,
		MaxCrawlDelay:      60 * time.Second,
		MaxRetries:         3,
		RetryBackoff:       time.Second,
		MaxRetryAfter:      time.Hour,
		MaxHostFailures:    6,

		AutothrottleTargetConcurrency: 1,
		AutothrottleStartDelay:        5 * time.Second,
		AutothrottleMaxDelay:          60 * time.Second,
		MaxBody:                       10 << 20,
		MaxBodyMemory:                 32 << 20,
		MaxHeaderBytes:                256 << 10,
		MaxRobotsMemory:               64 << 20,
		ConnectTimeout:                10 * time.Second,
		HeaderTimeout:                 15 * time.Second,
		FetchTimeout:                  30 * time.Second,
		ReadIdleTimeout:               10 * time.Second,
		MaxLinksPerPage:               1000,
		MaxRedirects:                  10,
		DNSCacheTTL:                   5 * time.Minute,
		MaxURLLength:                  2048,
		MaxPathSegments:               32,
		MaxPagesPerHost:               100_000,
		MaxSitemapsPerHost:            100,
		ProgressInterval:              5 * time.Second,
	}
}

// ConfigError is a configuration problem tied to one key, so the user can be
// told exactly which line of the config to fix.
type ConfigError struct {
	Key     string // the YAML key, e.g. "max_depth"
	Problem string // what is wrong, e.g. "must be >= 0 (got -1)"
}

// Error returns "KEY: PROBLEM".
func (e *ConfigError) Error() string { return e.Key + ": " + e.Problem }

func problem(key, format string, args ...any) *ConfigError {
	return &ConfigError{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// Validate reports the first problem in c as a *ConfigError, or nil.
func (c Config) Validate() error {
	if len(c.Seeds) == 0 {
		return problem("seeds", "at least one seed URL is required")
	}
	for _, s := range c.Seeds {
		u, err := url.Parse(s)
		if err != nil {
			return problem("seeds", "invalid URL %q: %v", s, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return problem("seeds", "%q must be an absolute http or https URL", s)
		}
	}
	nonNegative := []struct {
		key string
		val float64
	}{
		{"max_pages", float64(c.MaxPages)},
		{"max_depth", float64(c.MaxDepth)},
		{"max_retries", float64(c.MaxRetries)},
		{"max_crawl_delay", float64(c.MaxCrawlDelay)},
		{"max_links_per_page", float64(c.MaxLinksPerPage)},
		{"max_redirects", float64(c.MaxRedirects)},
		{"dns_cache_ttl", float64(c.DNSCacheTTL)},
		{"max_url_length", float64(c.MaxURLLength)},
		{"max_path_segments", float64(c.MaxPathSegments)},
		{"max_pages_per_host", float64(c.MaxPagesPerHost)},
		{"max_sitemaps_per_host", float64(c.MaxSitemapsPerHost)},
		{"max_body_memory", float64(c.MaxBodyMemory)},
		{"max_robots_memory", float64(c.MaxRobotsMemory)},
		{"rate", c.Rate},
		{"progress_interval", float64(c.ProgressInterval)},
	}
	for _, n := range nonNegative {
		if n.val < 0 {
			return problem(n.key, "must be >= 0 (got %v)", n.val)
		}
	}
	positive := []struct {
		key string
		val int64
	}{
		{"workers", int64(c.Workers)},
		{"burst", int64(c.Burst)},
		{"per_host_concurrency", int64(c.PerHostConcurrency)},
		{"max_body", c.MaxBody},
		{"max_header_bytes", c.MaxHeaderBytes},
		{"connect_timeout", int64(c.ConnectTimeout)},
		{"header_timeout", int64(c.HeaderTimeout)},
		{"fetch_timeout", int64(c.FetchTimeout)},
		{"read_idle_timeout", int64(c.ReadIdleTimeout)},
		{"robots_ttl", int64(c.RobotsTTL)},
		{"retry_backoff", int64(c.RetryBackoff)},
		{"max_retry_after", int64(c.MaxRetryAfter)},
		{"max_host_failures", int64(c.MaxHostFailures)},
		{"autothrottle_start_delay", int64(c.AutothrottleStartDelay)},
		{"autothrottle_max_delay", int64(c.AutothrottleMaxDelay)},
	}
	for _, p := range positive {
		if p.val <= 0 {
			return problem(p.key, "must be > 0 (got %v)", p.val)
		}
	}
	if c.UserAgent == "" {
		return problem("user_agent", "must not be empty")
	}
	if c.productToken() == "" {
		return problem("robots_token", "must not be empty (or set user_agent to start with a product token)")
	}
	if c.RobotsTTL > 24*time.Hour {
		return problem("robots_ttl", "must be at most 24h, as RFC 9309 2.4 requires (got %v)", c.RobotsTTL)
	}
	if !(c.AutothrottleTargetConcurrency > 0) {
		return problem("autothrottle_target_concurrency", "must be > 0 (got %v)", c.AutothrottleTargetConcurrency)
	}
	if c.Sitemaps && !c.Robots {
		return problem("sitemaps", "needs robots: true (sitemaps are found through robots.txt)")
	}
	if _, err := c.rules(); err != nil {
		return err
	}
	if _, err := netguard.New(c.AllowPrivateNetworks, c.AllowCIDRs); err != nil {
		return problem("allow_cidrs", "%v", err)
	}
	if _, err := parseProxy(c.Proxy); err != nil {
		return err
	}
	return nil
}

// productToken returns the name matched against robots.txt groups and
// robots meta tags: RobotsToken, or "crawld" for "crawld/1.0 (+https://…)".
func (c Config) productToken() string {
	if c.RobotsToken != "" {
		return c.RobotsToken
	}
	token, _, _ := strings.Cut(c.UserAgent, "/")
	token, _, _ = strings.Cut(token, " ")
	return token
}

// rules compiles the URL filter, defaulting the allowed domains to the seeds'
// hosts so a crawl stays on the sites it was pointed at.
func (c Config) rules() (*filter.Rules, error) {
	domains := c.AllowDomains
	if len(domains) == 0 {
		for _, s := range c.Seeds {
			if u, err := url.Parse(s); err == nil {
				domains = append(domains, u.Hostname())
			}
		}
	}
	if _, err := filter.NewRules(domains, nil, nil); err != nil {
		return nil, problem("allow_domains", "%v", err)
	}
	if _, err := filter.NewRules(nil, c.AllowSchemes, nil); err != nil {
		return nil, problem("allow_schemes", "%v", err)
	}
	rules, err := filter.NewRules(domains, c.AllowSchemes, c.AllowExtensions)
	if err != nil {
		return nil, problem("allow_extensions", "%v", err)
	}
	return rules.WithLimits(filter.Limits{
		MaxURLLength:    c.MaxURLLength,
		MaxPathSegments: c.MaxPathSegments,
		MaxRepeats:      maxSegmentRepeats,
	}), nil
}
