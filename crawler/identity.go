package crawler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// SharedIdentity digests the settings every node of a crawl shared over
// Redis must agree on (sharedSettings), so that a node started with other
// ones can be refused: what is admitted, how hosts are paced, and what the
// nodes keep for each other in Redis. Per-node settings (perNodeSettings)
// are left out, so nodes of different sizes can join one crawl. The digest
// is stable across runs and processes; it changes when a shared setting is
// added here.
func (c Config) SharedIdentity() string {
	b, _ := json.Marshal(c.sharedSettings()) // maps marshal with sorted keys: a stable digest
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// sharedSettings are the settings of a shared crawl, by Config field name.
// Every field of Config is either here or in perNodeSettings
// (TestConfig_EveryFieldClassified).
func (c Config) sharedSettings() map[string]any {
	return map[string]any{
		// What is admitted: each node admits the links it finds, into
		// one seen set and against budgets counted in Redis.
		"MaxPages": c.MaxPages, "MaxPagesPerHost": c.MaxPagesPerHost, "MaxDepth": c.MaxDepth,
		"AllowDomains": c.AllowDomains, "AllowSchemes": c.AllowSchemes, "AllowExtensions": c.AllowExtensions,
		"MaxURLLength": c.MaxURLLength, "MaxPathSegments": c.MaxPathSegments,
		"MaxRedirects": c.MaxRedirects, "MaxLinksPerPage": c.MaxLinksPerPage, "FollowNofollow": c.FollowNofollow,
		"Sitemaps":             c.Sitemaps,
		"AllowPrivateNetworks": c.AllowPrivateNetworks, "AllowCIDRs": c.AllowCIDRs,
		// How hosts are paced: a host's interval and in-flight cap are
		// kept in Redis for all nodes. The autothrottle delays pace a host
		// as Rate does, so nodes disagreeing on them would fight over its
		// interval.
		"Rate": c.Rate, "Burst": c.Burst, "PerHostConcurrency": c.PerHostConcurrency,
		"Autothrottle": c.Autothrottle, "AutothrottleTargetConcurrency": c.AutothrottleTargetConcurrency,
		"AutothrottleStartDelay": c.AutothrottleStartDelay, "AutothrottleMaxDelay": c.AutothrottleMaxDelay,
		// Robots policy. Rules one node fetches are shared through Redis
		// for RobotsTTL, so the nodes must agree on how long they hold.
		"UserAgent": c.UserAgent, "RobotsToken": c.RobotsToken, "Robots": c.Robots,
		"RobotsTTL": c.RobotsTTL, "MaxCrawlDelay": c.MaxCrawlDelay,
		// A host's failures in a row are counted crawl-wide in Redis, so
		// the threshold that sets it aside must be one.
		"MaxHostFailures": c.MaxHostFailures,
	}
}

// perNodeSettings names the Config fields each node of a shared crawl may
// set for itself: its seeds (added to the shared frontier), its size, its
// timeouts, how it retries its own failed fetches, its memory, its network
// path and its logging. None changes what the crawl admits or the pace a
// host that answers well is asked at.
func perNodeSettings() []string {
	return []string{
		"Seeds", "Workers", "ProgressInterval",
		"ConnectTimeout", "HeaderTimeout", "FetchTimeout", "ReadIdleTimeout",
		"MaxRetries", "RetryBackoff", "MaxRetryAfter",
		"MaxBody", "MaxBodyMemory", "MaxHeaderBytes", "MaxRobotsMemory",
		"MaxSitemapsPerHost", "DNSCacheTTL", "Proxy",
	}
}
