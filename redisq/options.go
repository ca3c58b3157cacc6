package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// Defaults for Options.
const (
	DefaultLeaseTTL  = 60 * time.Second
	DefaultHeartbeat = 2 * time.Second
	DefaultDeadAfter = 10 * time.Second
	DefaultRetryFor  = 30 * time.Second
)

// MaxDepthKept is the largest Options.MaxDepth: a seen member keeps a
// URL's depth in 6 of its bits.
const MaxDepthKept = 63

// LeaseBeats is how many heartbeats, at least, fall within one LeaseTTL:
// the node beats every Heartbeat or LeaseTTL/LeaseBeats, whichever is
// shorter, so that a held lease, renewed at every beat, survives two
// missed ones.
const LeaseBeats = 3

const (
	maxWait     = 250 * time.Millisecond // longest sleep of a Get between claims
	joinPoll    = 100 * time.Millisecond // Join's polling period
	reapBatch   = 16                     // expired leases a claim hands back at most
	addBatchMax = 256                    // items one add script call carries at most
	reapNodes   = 8                      // dead nodes a heartbeat reaps at most
	callLimit   = 10 * time.Second       // bound on calls that have no context (Close, the heartbeat and its Snapshot)
	putKeep     = 10 * time.Minute       // least time a Put's token is kept (more if 2×RetryFor is longer)
	ackDelay    = 5 * time.Millisecond   // longest a Done's ack waits for a claim to carry it
	ackBatch    = 256                    // most acks one script call carries
)

// Options configure Open.
type Options struct {
	// Client is the Redis holding the crawl. Its retries must be off
	// (MaxRetries: -1; see the package doc); Open checks this for
	// *redis.Client and *redis.ClusterClient. Close does not close it.
	// Set either Client or URL.
	Client redis.UniversalClient
	// URL is a redis:// (or rediss://, unix://) URL as redis.ParseURL
	// reads it. Open builds a client with retries off and Close closes it.
	URL string

	// CrawlID names the crawl: nodes with the same CrawlID share it. It
	// must not contain braces (it is the hash tag) or white space.
	CrawlID string
	// NodeID names this node in leases and heartbeats; default
	// hostname-pid-random. Two live nodes may not share one.
	NodeID string
	// ConfigHash identifies the crawl's configuration (filters, rate...).
	// The first node stores it; Open refuses to join a crawl stored with a
	// different hash, or different politeness.
	ConfigHash string
	// Config is the per-host politeness: Rate, Burst, PerHostConcurrency
	// as in queue.Config (the other fields are ignored).
	Config queue.Config

	// LeaseTTL is how long a lease outlives its node's last renewal:
	// every heartbeat renews the leases of the items Get returned and
	// Done (or Finish) has not finished, however long their fetch takes,
	// so a lease expires only when its node stops renewing it (it died,
	// lost Redis, or its Done was lost with a Redis rollback); default
	// DefaultLeaseTTL. The node beats at least LeaseBeats times per
	// LeaseTTL, so that a lease outlives two missed beats.
	LeaseTTL time.Duration
	// Heartbeat is how often the node tells Redis it lives (and renews
	// its leases); default DefaultHeartbeat, and more often if LeaseTTL
	// asks (see LeaseBeats).
	Heartbeat time.Duration
	// DeadAfter is how long a node may be silent before any other node
	// hands its leases back; default DefaultDeadAfter.
	DeadAfter time.Duration
	// RetryFor bounds how long a call retries transient Redis errors
	// (connection lost, LOADING) before failing with an error wrapping
	// ErrUnavailable; default DefaultRetryFor. Make it longer than a Redis
	// restart (with its AOF load) takes.
	RetryFor time.Duration

	// MaxDepth, when > 0, is the crawl's max_depth, and the seen set keeps
	// each URL's smallest link depth found (see Add): the shortest
	// distance from a seed, whatever the order pages are fetched in. It
	// is at most MaxDepthKept, and part of the crawl's identity: every
	// node must give the same. 0 keeps no depths (a crawl without
	// max_depth), at no cost.
	MaxDepth int

	// RobotsMemory bounds, roughly, the bytes the crawl's shared
	// robots.txt outcomes take in Redis (see SaveRobots); default
	// DefaultRobotsMemory.
	RobotsMemory int64

	// Warn, if set, is called with each warning Open finds (also kept in
	// Warnings), and later, from the heartbeat or a Get, when the node
	// finds that Redis restarted (its run id changed).
	Warn func(string)
	// Logger, if set, logs what fails where no caller hears of it when it
	// happens: a SetInterval, Block, Unblock, Release or Done whose Redis
	// call failed (also kept for Err), and missed heartbeats. nil logs
	// nothing.
	Logger *zap.Logger

	// onClaim, if set, is called with each item Get hands out and the
	// Redis time (µs) of its claim; for tests.
	onClaim func(it queue.Item, now int64)
	// ackWait, if set, replaces ackDelay; for tests.
	ackWait time.Duration
}

// Open joins the crawl opts.CrawlID, creating it if Redis holds no such
// crawl, and starts the node's heartbeat. It checks Redis first: it fails if
// maxmemory-policy is not noeviction (evicting a queue would lose URLs
// silently), and warns when appendonly is off or set-max-intset-entries is
// below 512. It fails if the crawl was started with another ConfigHash or
// politeness, or if a live node already uses opts.NodeID; an earlier,
// dead run of this node id has its leases handed back.
func Open(ctx context.Context, opts Options) (*Frontier, error) {
	if err := checkName("crawl id", opts.CrawlID, "{}"); err != nil {
		return nil, err
	}
	if opts.NodeID == "" {
		opts.NodeID = defaultNodeID()
	}
	if err := checkName("node id", opts.NodeID, ""); err != nil {
		return nil, err
	}
	if opts.MaxDepth < 0 || opts.MaxDepth > MaxDepthKept {
		return nil, fmt.Errorf("redisq: MaxDepth %d out of range: at most %d (a seen member keeps a depth in 6 bits)", opts.MaxDepth, MaxDepthKept)
	}
	if beat, dead := durOr(opts.Heartbeat, DefaultHeartbeat), durOr(opts.DeadAfter, DefaultDeadAfter); dead <= beat {
		return nil, fmt.Errorf("redisq: DeadAfter %v must be longer than Heartbeat %v, or live nodes are taken for dead", dead, beat)
	}
	rdb, own, err := client(opts)
	if err != nil {
		return nil, err
	}
	f := newFrontier(rdb, own, opts)
	if err := f.open(ctx, opts); err != nil {
		if own {
			_ = rdb.Close()
		}
		f.stop()
		return nil, err
	}
	// Stats serves a Snapshot from the start; if this reading fails, the
	// first heartbeat's is the first.
	if err := f.Refresh(ctx); err != nil {
		f.log.Debug("redis stats not read", zap.Error(err))
	}
	go f.beatLoop()
	go f.ackLoop()
	return f, nil
}

// client returns the Redis client of opts and whether Open built it.
func client(opts Options) (redis.UniversalClient, bool, error) {
	switch {
	case (opts.Client == nil) == (opts.URL == ""):
		return nil, false, errors.New("redisq: set exactly one of Options.Client and Options.URL")
	case opts.URL != "":
		ro, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, false, fmt.Errorf("redisq: %w", err)
		}
		ro.MaxRetries = -1
		return redis.NewClient(ro), true, nil
	}
	switch c := opts.Client.(type) {
	case *redis.Client:
		if n := c.Options().MaxRetries; n > 0 {
			return nil, false, fmt.Errorf("redisq: the redis client retries commands (MaxRetries %d): a retried script may run twice; set MaxRetries: -1", n)
		}
	case *redis.ClusterClient:
		// The cluster client also sends a command again, after a
		// connection error, on each of its MaxRedirects attempts.
		o := c.Options()
		if o.MaxRetries > 0 || o.MaxRedirects > 0 {
			return nil, false, fmt.Errorf("redisq: the redis cluster client retries commands (MaxRetries %d, MaxRedirects %d): a retried script may run twice; set MaxRetries: -1 and MaxRedirects: -1", o.MaxRetries, o.MaxRedirects)
		}
	default:
		return nil, false, fmt.Errorf("redisq: unsupported redis client %T: use a *redis.Client or *redis.ClusterClient", opts.Client)
	}
	return opts.Client, false, nil
}

// checkName refuses an empty name, or one with white space, control
// characters or any of bad.
func checkName(what, s, bad string) error {
	if s == "" {
		return fmt.Errorf("redisq: empty %s", what)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(bad, r) }); i >= 0 {
		return fmt.Errorf("redisq: %s %q: character %q not allowed", what, s, s[i])
	}
	return nil
}

// defaultNodeID is hostname-pid-random: unique across restarts, readable
// in logs.
func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || checkName("", h, "") != nil {
		h = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", h, os.Getpid(), hex.EncodeToString(b[:]))
}

func newFrontier(rdb redis.UniversalClient, own bool, opts Options) *Frontier {
	p := "cd:{c:" + opts.CrawlID + "}:"
	f := &Frontier{
		rdb:      rdb,
		own:      own,
		crawl:    opts.CrawlID,
		node:     opts.NodeID,
		prefix:   p,
		keys:     []string{p + "meta", p + "ready", p + "active", p + "stats", p + "lease", p + "leased", p + "nodes", p + "puts"},
		leaseUS:  durOr(opts.LeaseTTL, DefaultLeaseTTL).Microseconds(),
		deadUS:   durOr(opts.DeadAfter, DefaultDeadAfter).Microseconds(),
		beat:     max(min(durOr(opts.Heartbeat, DefaultHeartbeat), durOr(opts.LeaseTTL, DefaultLeaseTTL)/LeaseBeats), time.Millisecond),
		retryFor: durOr(opts.RetryFor, DefaultRetryFor),
		warn:     opts.Warn,
		log:      opts.Logger,
		onClaim:  opts.onClaim,
		ackWait:  durOr(opts.ackWait, ackDelay),
		wake:     make(chan struct{}),
		turn:     make(chan struct{}, 1),
		known:    newSeenCache(opts.MaxDepth > 0),
		clears:   make(map[string]struct{}),
		held:     make(map[uint64]struct{}),
		pastRun:  make(map[string]struct{}),
		ctls:     make(map[string]*hostCtl),
		beatDone: make(chan struct{}),
		noBeat:   make(chan struct{}),
		acks:     newAckBuffer(),
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	f.ctx, f.stop = context.WithCancel(context.Background())
	if r := opts.Config.Rate; r > 0 && !math.IsInf(r, 1) {
		f.t = 1e6 / r
	}
	f.pol = []any{strconv.FormatFloat(f.t, 'f', -1, 64), max(opts.Config.Burst, 1), max(opts.Config.PerHostConcurrency, 1)}
	f.putKeep = max(putKeep, 2*f.retryFor).Microseconds()
	f.robotsMem = opts.RobotsMemory
	f.maxDepth = opts.MaxDepth
	if f.robotsMem <= 0 {
		f.robotsMem = DefaultRobotsMemory
	}
	return f
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// open checks Redis, then creates or checks the crawl and registers the node.
func (f *Frontier) open(ctx context.Context, opts Options) error {
	if err := f.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisq: connect: %w", err)
	}
	if err := f.checkConfig(ctx); err != nil {
		return err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	pol := fmt.Sprintf("t_us=%s burst=%d per_host=%d", f.pol...)
	if f.maxDepth > 0 {
		// The seen members' layout depends on it: nodes must agree.
		pol += fmt.Sprintf(" max_depth=%d", f.maxDepth)
	}
	res, err := initScript.Run(ctx, f.rdb, f.keys[:1], opts.ConfigHash, pol, hex.EncodeToString(b[:]), f.maxDepth).StringSlice()
	if err != nil {
		return fmt.Errorf("redisq: open crawl %s: %w", f.crawl, err)
	}
	if res[0] == "CONFIG" {
		return fmt.Errorf("redis crawl %s was started with a different config (filters/rate); use another crawl_id (stored config %q, %s; this node %q, %s)",
			f.crawl, res[1], res[2], opts.ConfigHash, pol)
	}
	f.epoch = res[1]
	r, err := f.run(ctx, joinScript, f.node, f.deadUS).Slice()
	if err != nil {
		return fmt.Errorf("redisq: join crawl %s: %w", f.crawl, f.check(err))
	}
	n, _ := r[0].(int64)
	if n < 0 {
		age, _ := r[1].(int64)
		return fmt.Errorf("redisq: node id %s is in use by a live node of crawl %s (heartbeat %v ago); use another node id",
			f.node, f.crawl, time.Duration(age)*time.Microsecond)
	}
	f.runAt = time.Now()
	if f.runID, _ = r[2].(string); f.runID == "" {
		f.addWarn("redis: scripts cannot read INFO server's run_id (an ACL without +info?): a Redis restart or failover will not be noticed, and a host's clock rolled back with the AOF's last second may let it be hit early; allow INFO")
	}
	return nil
}

// addWarn records a warning Open found, and passes it to Options.Warn.
func (f *Frontier) addWarn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	f.warns = append(f.warns, w)
	if f.warn != nil {
		f.warn(w)
	}
}

// checkConfig checks the Redis settings the frontier relies on.
func (f *Frontier) checkConfig(ctx context.Context) error {
	get := func(name string) (string, bool) {
		m, err := f.rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			f.addWarn("redis: cannot read %s (%v): make sure it is set as crawld needs", name, err)
			return "", false
		}
		v, ok := m[name]
		return v, ok
	}
	if v, ok := get("maxmemory-policy"); ok && v != "noeviction" {
		return fmt.Errorf("redis maxmemory-policy is %s: the crawl frontier needs noeviction, since an evicted key silently loses URLs; run CONFIG SET maxmemory-policy noeviction and set it in redis.conf", v)
	}
	if v, ok := get("appendonly"); ok && v != "yes" {
		f.addWarn("redis appendonly is %s: a Redis restart loses the crawl's state; set appendonly yes and appendfsync everysec", v)
	}
	if v, ok := get("set-max-intset-entries"); ok {
		if n, err := strconv.Atoi(v); err == nil && n < 512 {
			f.addWarn("redis set-max-intset-entries is %d: seen-set buckets beyond it take several times the memory; set it to 512 or more", n)
		}
	}
	return nil
}

// Warnings returns what Open found wrong, but not fatally, with Redis's
// settings.
func (f *Frontier) Warnings() []string { return append([]string(nil), f.warns...) }
