// Package redisq is a crawl frontier shared by several crawld processes
// (nodes) through one Redis: one queue, one seen set, one politeness clock
// per host, one page budget, one count per host for a per-host cap, one
// robots.txt outcome per site and one "finished" count for the whole
// cluster.
// It implements the crawler's Frontier interface with queue.Memory's
// semantics; the design is section 2 of design/scaleout.md, with one shard.
//
// # Keys
//
// Every key of crawl c carries the hash tag {c:<c>}, so all of them live in
// one Redis Cluster slot and every script touches one slot only. With
// P = "cd:{c:<c>}:":
//
//	P meta          HASH epoch (random id of this run of the crawl), config (ConfigHash),
//	                politeness, created, version; run (run_id of the Redis process the
//	                crawl last saw), restarted and qu (when the last restart was noticed
//	                and its quarantine ends, µs), miv (longest interval ever set, µs)
//	P nodes         ZSET node id → last heartbeat (µs, Redis TIME)
//	P ready         ZSET host → earliest start allowed (µs); a host is in it iff it
//	                has queued items and a free in-flight slot
//	P active        SET of hosts with queued items (for Stats)
//	P q:<host>      LIST of encoded items (see encode), FIFO: RPUSH, LPOP, LPUSH to re-queue
//	P h:<host>      HASH tat (GCRA), last (last start), iv (SetInterval), bu (block
//	                until), inf (in flight); expires once it no longer matters
//	P lease         ZSET lease id → expiry (µs); ids are random, drawn by the claiming node
//	P leased        HASH lease id → node "\n" host "\n" "@" claim time (µs) "\n" item
//	P l:<node>      SET of the node's lease ids, to reap a dead node at once
//	P puts          ZSET token of a recent Put → when it may be forgotten (µs)
//	P s:<b>         seen set bucket b (0…65535, the top 16 bits of the URL's
//	                seen.Fingerprint): a SET of the low 48 bits as integers, an intset;
//	                with a max depth (meta's depth), the low 7 of them are the URL's
//	                smallest depth and a handed-out bit (see memberDepth)
//	P stats         HASH pending (queued + leased), admitted (the budget count behind
//	                Add's limit), seen, done, stale, requeued, restarts, robots (bytes of r: keys)
//	P hc            HASH host → items admitted with a Limits.PagesPerHost (Admit)
//	P hf            HASH host → failed requests in a row, by all nodes (HostFailed; an ack
//	                after HostSucceeded clears it)
//	P r:<authority> STRING a robots.txt outcome (SaveRobots), expiring with it (24 h at most)
//	P rx            ZSET authority → when its r: key expires (µs), to bound them all
//	P rs            HASH authority → bytes its r: key is charged; stats' robots field is their sum
//
// # Scripts
//
// State changes are Lua scripts (see scripts.go), atomic on the server:
// add (Admit: a page's links in one call), put
// (Put), claim (Get, carrying the node's acks), ack (a batch of acks:
// Finish, and the Dones no claim carried), interval, block, unblock,
// heartbeat (with the lease renewal and the dead-node reaper), release
// (Close), handback (Release), join and init (Open), stats (Stats and
// Join), saverobots (SaveRobots: robots.txt outcomes, in keys that expire
// with them, within a memory budget). Two reads and one count need no
// script: LoadRobots (GET and PTTL) and HostFailed's count (HINCRBY; acks
// clear it). Every time is Redis's TIME read inside the
// script; a node's clock is only used to sleep the wait a claim
// returns, and to turn Block's until into a duration. Claim, heartbeat
// and join also read INFO server's run_id, to notice a restart (below).
//
// Keys the scripts know in advance are passed in KEYS. The per-host and
// per-node keys are built inside the scripts from the tagged prefix in
// ARGV: claim and the reapers only learn the host or node from the data
// they read. They share the crawl's hash tag, so Redis Cluster runs the
// scripts (7.0 lets a script without a shebang touch undeclared keys of
// the declared slot), but a proxy that checks every key against KEYS
// would refuse them; a sharded design (S > 1) would need the same
// compromise for claim.
//
// # Retries
//
// A script that ran on the server but whose reply was lost must not be run
// again blindly: a second claim would lease a second item, a second Put
// queue a second copy (go-redis#2339). The client must therefore have
// retries off (MaxRetries -1): Open sets that on the client it builds from
// Options.URL and refuses a *redis.Client with retries on, or a
// *redis.ClusterClient with retries or redirect attempts on (its
// MaxRedirects attempts also resend a command after a connection error). go-redis's Script.Run still retries an EVALSHA that failed
// with NOSCRIPT, which is safe, since the script did not run. The frontier
// retries by itself, for up to Options.RetryFor, backing off from 20 ms to
// 1 s, after a connection error, LOADING or BUSY, and every script is made
// safe to repeat: Add by the seen set (a repeat of an Add that had taken
// effect reports Duplicate); Put by a random token it stores with the
// item, with which a repeat does nothing; claim by its lease id, drawn by
// the node before the first try: a repeat finds the lease its lost reply
// carried, hands it back and claims afresh, so the item is neither leased
// twice nor started late against its host's clock; an ack by its lease
// id: every ack a call carries (claim or ack script) is flagged as a
// repeat once a try may have run, and a repeat that finds no lease is not
// counted stale; the others set state or only read. A call that still fails after RetryFor returns an
// error wrapping ErrUnavailable and the last Redis error, the Frontier
// staying usable: the crawler decides whether to stop.
//
// # Leases and failures
//
// Get leases an item: the lease id is set in Item.ID and Done acks it.
// While the node holds it (until Done or Finish), every heartbeat renews
// it to expire Options.LeaseTTL later, so a fetch, a robots.txt wait or
// a retry may take however long it takes without another node being
// handed the item or exceeding the host's in-flight cap. A lease the node
// stopped renewing expires LeaseTTL after the last renewal: the node
// died or lost Redis, or its Done was lost with a Redis rollback. The
// node beats every Options.Heartbeat, or more often if LeaseTTL/LeaseBeats is
// shorter. A node whose heartbeat is older than Options.DeadAfter has all
// its leases handed back at once by any other node's heartbeat.
// Handed-back items go to the front of their host's list in their original
// order (by claim time, kept with the lease). The Done of a lease handed
// back is stale: counted (Stale), with no effect, since the item is
// unfinished again. So a page may be fetched twice after a node dies or
// is cut off from Redis, never lost. Close sends this node's pending acks,
// then hands its other leases back at once.
//
// # Acks
//
// Done does not call Redis: it records the ack (lease id and host) in the
// node's pending acks, and the node's next claim carries them, up to 256,
// in its ARGV. The claim script applies them first, each exactly as the
// ack script does (the stale check, the in-flight slot freed, the host
// settled), then claims: ack then claim, in one atomic step, so
// politeness and the in-flight cap are as if the acks had been sent
// alone. A crawler's worker calls Get right after Done, so a page costs
// one round trip for both. Acks no claim took within 5 ms are sent in one
// batch by the node's ack loop (a goroutine that ends with Close). Join
// sends them before each poll, Stats, Stale and Err before they read, and
// Close before handing leases back; each waits too for the calls carrying
// acks taken before (by a claim or the ack loop) to end, so that it sees
// every Done made before it. Finish is Done sent at once: it returns
// once its ack (with the acks pending) was applied. A buffered ack holds
// its item pending, so Join cannot return before it is applied. A call
// carrying acks that fails because its context or the node is done puts
// them back, flagged as may-have-run; one that fails otherwise reports
// the error to Err, as a failed Done did, and its leases expire.
//
// # Redis restarts
//
// A Redis that stops and comes back (shutdown, crash, failover to a
// replica) within RetryFor is ridden through: calls in progress retry as
// above, and none of Get, Done, Add, Put or Join returns an error. With
// appendonly yes and appendfsync everysec, a shutdown loses nothing, but a
// crash of the machine, a crash of Redis while its disk lags (it then
// holds AOF writes back for up to 2 s), or a failover may lose the last
// second or two of writes: the restored state is a consistent prefix (each script is one
// MULTI/EXEC in the AOF), but claims, acks and Adds of that second are
// undone although their nodes saw them succeed. What that costs:
//
//   - A lost claim: its item is queued again and handed out a second
//     time; the Done of the first lease finds no lease (stale). Lease ids
//     are random, so an id lost with the tail is not handed out again to
//     another item.
//   - A lost Done: the lease is back, held by a node that finished it; that
//     node no longer renews it, so it expires after LeaseTTL and its item
//     is handed out again. So pages
//     fetched twice are at most those claimed or done in the lost second,
//     plus the leases in flight.
//   - A lost Add: the URL is neither seen nor queued; but the Done of the
//     page it was found on came later, so it is lost too, and that page is
//     fetched again and finds the URL again (the crawler Adds a page's
//     links before its Done). Nodes had cached the URL as seen (see Add):
//     each drops its whole cache when it notices the restart, at its next
//     claim or heartbeat, and a claim notices it before it hands out the
//     item, so the node fetching that page again admits its links anew.
//     An Add answered before the drop is not cached after it.
//   - A host's clock (GCRA tat, last start, Crawl-delay interval, block)
//     goes back to what it was before the lost claims, which were real
//     starts: the host could be started again at once, too early.
//
// Against the last, every claim, heartbeat and join compares Redis's
// run_id with the one meta recorded, and the first to see it change (one
// script, atomically for the whole cluster) starts a quarantine in which
// no claim hands anything out. Its length is the longest interval in
// force: burst × 1/rate for the configured rate, or the longest interval
// SetInterval ever set on the crawl (meta's miv) or on the claiming node
// (in case miv's write was lost), capped at 60 s. That suffices however
// much was lost: the lost starts came before the restart was noticed, and
// once burst × interval has passed since a host's last start, its real
// GCRA state, had nothing been lost, would be a full bucket, which the
// rolled-back state is too (its tat is no later); from then on both agree.
// The quarantine does not restore a Block or SetInterval lost with the
// tail: each node keeps its latest ones per host of the last few seconds
// and, when it notices the restart, makes again those it made from 5 s
// before the old Redis's last reply on (the crawler sets them only when
// they change, so a lost one would stay lost). Nor does it bound the
// fetches of lost claims still in flight against PerHostConcurrency: those
// leases are gone, and their items may be handed out again at once. The
// same script moves every heartbeat and lease
// expiry forward by the time since the latest heartbeat, so that the
// downtime neither makes live nodes look dead (their leases handed back
// at once) nor expires leases. Each node warns (Options.Warn) when it sees
// the run id change. If scripts may not read INFO (an ACL), Open warns
// that restarts go unnoticed.
//
// If the crawl's meta key disappears or is replaced (Redis restarted on an
// empty dir, FLUSHALL) while nodes run, every script fails and Get, Join,
// Add and Finish return an error wrapping ErrStateLost at once, rather
// than crawling again from nothing; nothing is written to the new Redis.
// If Redis stays away longer than RetryFor, calls return an error wrapping
// ErrUnavailable instead.
//
// The loss the other way round, an ack that Redis keeps for a record that
// a crash of the node's machine lost, is the node's to prevent: the
// crawler fsyncs a record before its Done, and an ack is only sent after
// its Done.
//
// # Waiting
//
// A claim that finds no host ready returns how long until the earliest
// one will be. One sleeping Get of the node sleeps that long (at most
// 250 ms); the others sleep 250 ms. When this node queues or finishes
// work, or a Get claims an item, one sleeping Get is woken to claim: never
// all of them, which would send a herd of claims to Redis, most of them
// for nothing, each time a host's turn comes. Work queued by another node
// is thus seen within 250 ms, or at the next host's time. A Done gives
// the turn to one sleeping Get, whose claim carries the ack and may take
// the slot it frees. Join polls the pending count every 100 ms, or when
// this node's acks were applied or it queued work.
package redisq

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

// ErrStateLost is wrapped by the errors of a Frontier whose crawl's state
// vanished from Redis while it ran.
var ErrStateLost = errors.New("redis: crawl state lost")

// ErrClosed is returned by the calls of a closed Frontier.
var ErrClosed = errors.New("redisq: frontier is closed")

// ErrUnavailable is wrapped, with the last Redis error, by the errors of
// calls that gave up after retrying for Options.RetryFor because Redis
// could not be reached (or was loading). The Frontier stays usable: a call
// made once Redis is back goes ahead.
var ErrUnavailable = errors.New("redis unavailable")

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
	callLimit   = 10 * time.Second       // bound on calls that have no context (Close, Stats, heartbeat)
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

	// onClaim, if set, is called with each item Get hands out and the
	// Redis time (µs) of its claim; for tests.
	onClaim func(it queue.Item, now int64)
	// ackWait, if set, replaces ackDelay; for tests.
	ackWait time.Duration
}

// Frontier is a crawl frontier held in Redis and shared by every node
// opened on the same crawl. It implements the crawler's Frontier interface
// and is safe for concurrent use. It runs two goroutines until Close: the
// heartbeat, and the loop that sends acks no claim carried.
type Frontier struct {
	rdb      redis.UniversalClient
	own      bool // rdb was built by Open, so Close closes it
	crawl    string
	node     string
	epoch    string
	prefix   string
	keys     []string // KEYS of every script (see scripts.go); never modified
	pol      []any    // ARGV[3:6]: T µs, burst, in-flight cap
	t        float64  // the configured interval, µs; 0 for an unlimited rate
	leaseUS  int64
	deadUS   int64
	beat     time.Duration
	retryFor time.Duration
	putKeep  int64 // µs a Put's token is kept
	warns    []string
	warn     func(string)
	onClaim  func(queue.Item, int64)
	ackWait  time.Duration // how long a Done's ack waits for a claim to carry it

	robotsMem int64 // bytes the shared robots.txt outcomes may take
	maxDepth  int   // Options.MaxDepth: > 0 when the seen set keeps depths

	maxIV atomic.Int64 // the longest interval SetInterval set on this node, µs

	runMu   sync.Mutex
	runID   string              // the run id of the Redis process last seen
	runAt   time.Time           // when a reply last came from it
	pastRun map[string]struct{} // run ids seen before runID: a late reply from one is no restart

	// ctls are this node's latest SetInterval and Block (or Unblock) per
	// host of the last ctlKeep, to make again after a Redis rollback.
	ctlMu    sync.Mutex
	ctls     map[string]*hostCtl
	ctlPrune time.Time

	// wake is closed, and replaced, when this node queued or finished work,
	// so that sleeping Gets and Joins look again at once.
	wakeMu sync.Mutex
	wake   chan struct{}

	// turn holds at most one token asking one sleeping Get to claim again.
	// Waking one Get rather than all of them keeps a node's workers from
	// claiming in a herd, most of them for nothing, whenever a host's time
	// comes or an item is queued or finished; a Get that claims an item
	// passes the token on, so ready work still reaches every idle worker.
	turn     chan struct{}
	sleepMu  sync.Mutex
	sleepers int  // Gets asleep between claims
	timed    bool // one of them sleeps until the earliest host's time

	ctx       context.Context // done once Close (or kill) began
	stop      context.CancelFunc
	closeOnce sync.Once
	beatDone  chan struct{}
	noBeat    chan struct{} // closed by tests to stop the heartbeat alone

	lost  atomic.Bool
	stale atomic.Int64

	// held are the ids of the leases Get returned that Done or Finish
	// has not finished: the heartbeat renews them.
	heldMu sync.Mutex
	held   map[uint64]struct{}

	known *seenCache // URLs this node learnt are in the seen set; Add answers Duplicate for them without Redis

	failMu  sync.Mutex
	failure error // the first error a call without an error result could not report

	// clears holds the hosts HostSucceeded named whose run of failures the
	// next ack of an item of theirs ends in Redis.
	clearMu sync.Mutex
	clears  map[string]struct{}

	// acks are the Dones not yet sent to Redis: the next claim carries
	// them, or the ack loop sends them ackDelay after the first (see
	// Done). closing is set once Close took the last of them.
	ackMu   sync.Mutex
	acks    []pendingAck
	closing bool
	sending int           // batches taken from acks whose call has not ended
	idle    chan struct{} // closed when sending falls to 0
	ackKick chan struct{} // holds a token when acks may wait for the ack loop
	ackDone chan struct{} // closed when the ack loop ended
}

// pendingAck is a Done not yet applied in Redis.
type pendingAck struct {
	id   uint64
	host string
	url  string
	ran  bool // a try that carried it may have run: its repeat finds no lease, and is not stale
	// clear ends the host's run of failed requests (HostSucceeded).
	clear bool
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
		ackKick:  make(chan struct{}, 1),
		ackDone:  make(chan struct{}),
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

// NodeID returns the node's id in the crawl.
func (f *Frontier) NodeID() string { return f.node }

// LiveNodes returns the ids of the crawl's nodes whose last heartbeat, on
// Redis's clock, is more recent than the dead-node timeout, sorted.
func (f *Frontier) LiveNodes(ctx context.Context) ([]string, error) {
	now, err := f.rdb.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redisq: live nodes: %w", err)
	}
	since := now.UnixMicro() - f.deadUS
	nodes, err := f.rdb.ZRangeByScore(ctx, f.keys[6], &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisq: live nodes: %w", err)
	}
	sort.Strings(nodes)
	return nodes, nil
}

// run runs script with the common KEYS and ARGV (see scripts.go) followed
// by args.
func (f *Frontier) run(ctx context.Context, script *redis.Script, args ...any) *redis.Cmd {
	keys, argv := f.call(args...)
	return script.Run(ctx, f.rdb, keys, argv...)
}

// call returns the KEYS and ARGV of a script call (see run).
func (f *Frontier) call(args ...any) ([]string, []any) {
	argv := make([]any, 0, 5+len(args))
	argv = append(argv, f.prefix, f.epoch)
	argv = append(argv, f.pol...)
	return f.keys, append(argv, args...)
}

// check turns the scripts' state-lost reply into ErrStateLost, and
// remembers it, for Err and so that every later call fails at once.
func (f *Frontier) check(err error) error {
	if err != nil && redis.HasErrorPrefix(err, "LOST") {
		lost := fmt.Errorf("redisq: crawl %s: %w", f.crawl, ErrStateLost)
		f.fail(lost)
		f.lost.Store(true)
		f.broadcast()
		return lost
	}
	return err
}

// usable returns why a call cannot go ahead: ctx done, the Frontier closed
// or its crawl lost.
func (f *Frontier) usable(ctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case f.lost.Load():
		return fmt.Errorf("redisq: crawl %s: %w", f.crawl, ErrStateLost)
	case f.ctx.Err() != nil:
		return ErrClosed
	}
	return nil
}

// unsent reports whether err means the command never reached Redis, or
// Redis refused it without running it: safe to send again.
func unsent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// transient reports whether err is a failure of the connection, after
// which the command may or may not have run.
func transient(err error) bool {
	if unsent(err) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) || errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true // network errors, EOF, timeouts
}

// retry calls op until it succeeds, fails with an error safe does not
// accept, or ctx or the Frontier is done, returning op's last error
// through check; or until RetryFor has passed, returning an error that
// wraps ErrUnavailable and op's last error. It backs off from 20 ms to
// 1 s, never sleeping past RetryFor.
func (f *Frontier) retry(ctx context.Context, safe func(error) bool, op func() error) error {
	start := time.Now()
	deadline := start.Add(f.retryFor)
	wait := 20 * time.Millisecond
	for {
		err := op()
		if err == nil || !safe(err) || ctx.Err() != nil {
			return f.check(err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w for %v (RetryFor %v): %w", ErrUnavailable, time.Since(start).Round(time.Millisecond), f.retryFor, err)
		}
		if !f.sleep(ctx, min(wait, left), nil) {
			return f.check(err)
		}
		wait = min(2*wait, time.Second)
	}
}

// sleep waits for d, for wake to close, or for ctx or the Frontier to be
// done; it reports whether the Frontier and ctx are still live.
func (f *Frontier) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	case <-f.ctx.Done():
	}
	return ctx.Err() == nil && f.ctx.Err() == nil
}

// wakeChan returns the channel the next broadcast closes.
func (f *Frontier) wakeChan() <-chan struct{} {
	f.wakeMu.Lock()
	defer f.wakeMu.Unlock()
	return f.wake
}

// broadcast wakes every sleeping Join of this node, and one sleeping Get.
func (f *Frontier) broadcast() {
	f.wakeJoins()
	f.nudge()
}

// wakeJoins wakes every sleeping Join of this node.
func (f *Frontier) wakeJoins() {
	f.wakeMu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.wakeMu.Unlock()
}

// nudge gives the turn to one sleeping Get, or to the next Get to sleep.
func (f *Frontier) nudge() {
	select {
	case f.turn <- struct{}{}:
	default: // a turn is already waiting to be taken
	}
}

// doze is a Get's sleep after a claim found nothing to hand out: wait
// until the earliest host's time. Only one sleeping Get of the node
// keeps that time; the others wait for the turn, or maxWait, the bound on
// how late work queued by other nodes is seen.
func (f *Frontier) doze(ctx context.Context, wait time.Duration) {
	f.sleepMu.Lock()
	keeper := !f.timed
	f.timed = f.timed || keeper
	f.sleepers++
	f.sleepMu.Unlock()
	if !keeper {
		wait = maxWait
	}
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-f.turn:
	case <-ctx.Done():
	case <-f.ctx.Done():
	}
	t.Stop()
	f.sleepMu.Lock()
	f.sleepers--
	if keeper {
		f.timed = false
	}
	f.sleepMu.Unlock()
}

// passTurn wakes one more sleeping Get after this one claimed an item:
// another may be ready too.
func (f *Frontier) passTurn() {
	f.sleepMu.Lock()
	n := f.sleepers
	f.sleepMu.Unlock()
	if n > 0 {
		f.nudge()
	}
}

// fail records the first error a call without an error result met.
func (f *Frontier) fail(err error) {
	f.failMu.Lock()
	if f.failure == nil {
		f.failure = err
	}
	f.failMu.Unlock()
}

// Err returns the first error met by Done, SetInterval, Block or Unblock,
// which have no error result; nil if none. Once any call
// found the crawl's state vanished, it wraps ErrStateLost (unless an
// earlier error came first). It sends this node's acks left over first,
// so that it covers every Done made before it.
func (f *Frontier) Err() error {
	f.flushNow()
	f.failMu.Lock()
	defer f.failMu.Unlock()
	return f.failure
}

// Add queues it unless its URL was added before by any node, or, with
// limit > 0, once limit counted items were added by all nodes together
// (one shared budget). The check and the queueing are one script, so
// concurrent Adds of one URL, on any nodes, queue it once. The seen set
// holds 64-bit fingerprints: two URLs colliding (about n²/2⁶⁵ for n URLs)
// makes the second a Duplicate. It fails if it.Host is "" or contains a
// newline. A transient Redis error is retried; if an earlier try had taken
// effect, the item is reported Duplicate.
//
// With Options.MaxDepth, the seen set keeps each URL's smallest depth, as
// queue.Memory does with Config.Depths: Add of a page whose URL was added
// at a greater depth lowers it and returns queue.Shallower, counting
// toward no limit. If an item of the URL is still queued, Get hands it out
// at the smaller depth; if every item was handed out already (a retry or
// a lease handed back queues it again), a queue.KindExpand item is queued
// at that depth, for the page's links. The depth lives in the low bits
// of the URL's seen member, so it costs Redis no memory, but then 57 bits
// of the fingerprint tell URLs apart (see memberDepth), and each Add
// looks for 2 × (MaxDepth + 1) members. This node's cache of seen URLs
// keeps depths too, and sends Redis a URL found at a smaller depth than
// it knows.
func (f *Frontier) Add(ctx context.Context, it queue.Item, limit int) (queue.Admission, error) {
	a, err := f.Admit(ctx, []queue.Item{it}, queue.Limits{Pages: limit})
	if err != nil {
		return queue.Duplicate, err
	}
	return a[0], nil
}

// Admit is Add for each of items in order, in as few Redis calls as it
// takes (one per addBatchMax items; none for URLs this node knows are
// seen), returning each item's admission; an item whose URL came earlier
// in items is a Duplicate. With lim.PagesPerHost > 0 an item is also
// refused with queue.OverHostLimit once that many items of its host were
// added with a PagesPerHost, by all nodes together (max_pages_per_host
// shared like the budget); the host's count is checked after the seen set
// and before the budget, in the same script. It fails, adding nothing, if an item has no
// host or a newline in it. A transient Redis error is retried; items an
// earlier try had added are reported Duplicate. On error, the items of
// earlier calls may have been added.
func (f *Frontier) Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error) {
	out := make([]queue.Admission, len(items))
	type sent struct {
		i  int
		fp uint64
	}
	var todo []sent
	var args []any
	for _, it := range items {
		if err := checkHost(it); err != nil {
			return nil, err
		}
	}
	for i, it := range items {
		fp := seen.Fingerprint(it.URL)
		if f.maxDepth > 0 {
			// A URL known at a greater depth goes to Redis, which may
			// lower it (Shallower).
			if d, ok := f.known.depth(fp); ok && (it.Kind != queue.KindPage || it.Depth >= d) {
				out[i] = queue.Duplicate
				continue
			}
			todo = append(todo, sent{i, fp})
			args = append(args, f.depthArgs(it, fp)...)
			continue
		}
		if f.known.has(fp) {
			out[i] = queue.Duplicate
			continue
		}
		todo = append(todo, sent{i, fp})
		args = append(args, addArgs(it.Host, encode(it), fp)...)
	}
	if err := f.usable(ctx); err != nil {
		return nil, err
	}
	added := false
	for len(todo) > 0 {
		n := min(len(todo), addBatchMax)
		gen := f.known.generation()
		var res []any
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, addScript, append([]any{max(lim.Pages, 0), max(lim.PagesPerHost, 0)}, args[:4*n]...)...).Slice()
			return err
		})
		if err == nil && len(res) != n {
			err = fmt.Errorf("%d admissions for %d items", len(res), n)
		}
		if err != nil {
			if added {
				f.broadcast()
			}
			what := fmt.Sprintf("%d items", len(items))
			if len(items) == 1 {
				what = items[0].URL
			}
			return nil, fmt.Errorf("redisq: add %s: %w", what, err)
		}
		for j, r := range res {
			a, _ := r.(int64)
			out[todo[j].i] = queue.Admission(a)
			switch queue.Admission(a) {
			case queue.Added, queue.Shallower:
				added = true
				f.cacheSeen(gen, todo[j].fp, items[todo[j].i])
			case queue.Duplicate:
				f.cacheSeen(gen, todo[j].fp, items[todo[j].i])
			}
		}
		todo, args = todo[n:], args[4*n:]
	}
	if added {
		f.broadcast()
	}
	return out, nil
}

// addArgs are the add script's four arguments for an item of host with
// record rec and URL fingerprint fp.
func addArgs(host string, rec []byte, fp uint64) []any {
	return []any{host, rec, fp & memberMask, fp >> 48}
}

// memberMask keeps the low 48 bits of a fingerprint: the member of its
// bucket, which the top 16 bits name.
const memberMask = 1<<48 - 1

// With Options.MaxDepth, a seen member's low 7 bits are not the
// fingerprint's: the low 6 are the URL's smallest depth found (at most
// MaxDepthKept), and memberHanded is set while no item of the URL is
// queued since one was handed out (as queue.Memory keeps them), which
// tells Add of a smaller depth whether the page must be fetched again
// for its links (an expand item) or will be fetched at that depth. The
// member stays an integer below 2^48, 8 bytes in an intset, and 57 bits
// of the fingerprint (16 + 41) tell URLs apart: two of 10 million
// collide with odds about n²/2^58 ≈ 3.5e-4.
const (
	memberDepth  = 1<<6 - 1
	memberHanded = 1 << 6
	memberLow    = 1<<7 - 1
)

// depthArgs are the add script's four arguments for it, with URL
// fingerprint fp, in a crawl that keeps depths: its record carries fp (see
// record), and its member, not handed out, its depth.
func (f *Frontier) depthArgs(it queue.Item, fp uint64) []any {
	member := fp&memberMask&^memberLow | uint64(min(max(it.Depth, 0), f.maxDepth))
	return []any{it.Host, f.record(it, fp), member, fp >> 48}
}

// cacheSeen caches what an add call sent at cache generation gen
// answered for it (added, or a duplicate, or lowered): its URL (with
// fingerprint fp) is seen, with depths at it.Depth or less if it is a
// page.
func (f *Frontier) cacheSeen(gen, fp uint64, it queue.Item) {
	if f.maxDepth == 0 {
		f.known.addIf(gen, fp)
		return
	}
	d := unknownDepth
	if it.Kind == queue.KindPage {
		d = it.Depth
	}
	f.known.addAt(gen, fp, d)
}

// record encodes it for Redis: with depths, as a version 3 record
// carrying its URL's fingerprint fp, which the scripts read to find the
// URL's seen member (see encode).
func (f *Frontier) record(it queue.Item, fp uint64) []byte {
	if f.maxDepth == 0 {
		return encode(it)
	}
	rec := encode(it)
	b := make([]byte, 0, 9+len(rec))
	b = append(b, recVersionFP)
	b = binary.BigEndian.AppendUint64(b, fp)
	return append(b, rec...)
}

// Put appends it to its host's list and counts one unfinished task in the
// cluster, whether or not its URL was added before (a retry puts an item
// back); it.ID is ignored. A transient Redis error is retried: a random
// token, kept in Redis for 10 minutes (or twice RetryFor), makes a repeat
// of a Put that had taken effect a no-op, so the item is queued once. On
// error nothing was counted, unless the error is ErrUnavailable's or
// ctx's after a try whose reply was lost (the item may then be queued).
func (f *Frontier) Put(ctx context.Context, it queue.Item) error {
	rec, err := f.encodeChecked(it)
	if err != nil {
		return err
	}
	if err := f.usable(ctx); err != nil {
		return err
	}
	token := randomToken()
	err = f.retry(ctx, transient, func() error {
		return f.run(ctx, putScript, it.Host, rec, token, f.putKeep).Err()
	})
	if err != nil {
		return fmt.Errorf("redisq: put %s: %w", it.URL, err)
	}
	f.broadcast()
	return nil
}

func (f *Frontier) encodeChecked(it queue.Item) ([]byte, error) {
	if err := checkHost(it); err != nil {
		return nil, err
	}
	if f.maxDepth > 0 {
		return f.record(it, seen.Fingerprint(it.URL)), nil
	}
	return encode(it), nil
}

// checkHost refuses an item without a host, or whose host would break the
// records' newline-separated fields.
func checkHost(it queue.Item) error {
	if it.Host == "" {
		return errors.New("redisq: item has no host")
	}
	if strings.IndexByte(it.Host, '\n') >= 0 {
		return fmt.Errorf("redisq: item host %q contains a newline", it.Host)
	}
	return nil
}

// Get blocks until some host may be fetched now on Redis's clock, then
// leases the oldest item of the host that became ready first, charging the
// host's rate limiter, and returns it with the lease id in ID. The caller
// must call Done with it within LeaseTTL, or it is handed out again. If ctx
// is done Get returns ctx.Err(); after Close, ErrClosed; if the crawl's
// state vanished, an error wrapping ErrStateLost. Transient Redis errors
// are retried for up to RetryFor (then the error wraps ErrUnavailable); a
// retry of a claim whose reply was lost hands that claim's lease back
// first, so nothing stays leased to no one. After a Redis restart Get
// hands nothing out for a quarantine (see the package doc).
func (f *Frontier) Get(ctx context.Context) (queue.Item, error) {
	for {
		if err := f.usable(ctx); err != nil {
			return queue.Item{}, err
		}
		id := leaseID()
		acks := f.takeAcks()
		var res []any
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, claimScript, append([]any{f.node, f.leaseUS, reapBatch, id, f.maxIV.Load()}, ackArgs(acks)...)...).Slice()
			if err != nil && !unsent(err) {
				markRan(acks)
			}
			return err
		})
		if err != nil {
			f.unsentAcks(ctx, acks, err)
			f.sent(acks)
			if err := f.usable(ctx); err != nil {
				return queue.Item{}, err
			}
			return queue.Item{}, fmt.Errorf("redisq: get: %w", err)
		}
		if len(res) < 2 {
			f.sent(acks)
			return queue.Item{}, fmt.Errorf("redisq: get: malformed claim reply %v", res)
		}
		f.acked(acks, res[1], nil)
		f.sent(acks)
		kind, _ := res[0].(int64)
		res = append(res[:1:1], res[2:]...) // the claim's own reply, as before acks were carried
		switch {
		case kind == 1 && len(res) >= 4:
			host, _ := res[1].(string)
			rec, _ := res[2].(string)
			if len(res) > 4 {
				// Before the item is returned: links its page yields are
				// then admitted against this Redis, not against a cache
				// of seen URLs a rollback emptied.
				run, _ := res[4].(string)
				f.noteRun(run)
			}
			f.hold(id)
			it, err := decode(rec, host, id)
			if err != nil {
				// Finish the lease so the bad record does not come back for ever.
				f.Done(queue.Item{Host: host, ID: id})
				return queue.Item{}, fmt.Errorf("redisq: get: lease %d of %s: %w", id, host, err)
			}
			if len(res) > 5 {
				// The smallest depth its URL is known at (with depths):
				// a shorter path found since it was queued.
				if d, ok := res[5].(int64); ok && d >= 0 && int(d) < it.Depth {
					it.Depth = int(d)
				}
			}
			if f.onClaim != nil {
				now, _ := res[3].(int64)
				f.onClaim(it, now)
			}
			f.passTurn()
			return it, nil
		case kind < 0:
			continue // the id is another node's lease: draw again
		}
		if len(res) > 2 {
			run, _ := res[2].(string)
			f.noteRun(run)
		}
		wait := maxWait
		if us, _ := res[1].(int64); us >= 0 && time.Duration(us)*time.Microsecond < maxWait {
			wait = time.Duration(us) * time.Microsecond
		}
		// A turn given during the claim is still in the channel, so work
		// queued meanwhile is not missed.
		f.doze(ctx, wait)
	}
}

// leaseID draws a lease id: random, so that the retry of a claim can name
// the lease its lost reply carried, and so that ids handed out just
// before a crash and lost with the AOF's tail are not handed out again
// (which a counter rolled back with the AOF would do). It is in [1, 2^53),
// exact as a Lua number; two leases in flight share an id with odds
// below n²/2^54.
func leaseID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return max(binary.LittleEndian.Uint64(b[:])&(1<<53-1), 1)
}

// randomToken returns 96 random bits in hex, a Put's token.
func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// noteRun records the run id of the Redis process a claim or heartbeat
// ran on. When it changed (Redis restarted or failed over) it drops the
// node's cache of URLs known to be seen, since the Adds of the writes the
// restart lost are undone, and warns. A late reply from a Redis process
// seen before is no restart.
func (f *Frontier) noteRun(run string) {
	if run == "" {
		return
	}
	f.runMu.Lock()
	old, oldAt := f.runID, f.runAt
	_, past := f.pastRun[run]
	changed := old != "" && old != run && !past
	if changed {
		f.pastRun[old] = struct{}{}
		// Dropped under runMu, so that no Add's answer from the old
		// process lands in the cache after the drop (see seenCache).
		f.known.reset()
	}
	if !past {
		f.runID, f.runAt = run, time.Now()
	}
	f.runMu.Unlock()
	if changed {
		// The writes lost came after the old process's last reply, less
		// what its AOF had not written yet.
		f.replayControls(oldAt.Add(-ctlKeep))
	}
	if changed && f.warn != nil {
		f.warn(fmt.Sprintf("redis restarted or failed over (run id %.8s…, was %.8s…): the crawl's last second of writes may be lost; claims pause for the longest host interval (at most 60s) so that no host is hit early, and this node's cache of seen URLs is dropped", run, old))
	}
}

// hold records that this node holds lease id, for the heartbeat to renew.
func (f *Frontier) hold(id uint64) {
	f.heldMu.Lock()
	f.held[id] = struct{}{}
	f.heldMu.Unlock()
}

// unhold stops renewing lease id: its item is finished or handed back, or
// will be once the ack is sent. A method that hands an item back must
// call it too, or the lease is renewed (uselessly) until Close.
func (f *Frontier) unhold(id uint64) {
	f.heldMu.Lock()
	delete(f.held, id)
	f.heldMu.Unlock()
}

// heldIDs returns the leases this node holds, as heartbeat arguments.
func (f *Frontier) heldIDs() []any {
	f.heldMu.Lock()
	defer f.heldMu.Unlock()
	ids := make([]any, 0, len(f.held))
	for id := range f.held {
		ids = append(ids, id)
	}
	return ids
}

// Done finishes an item returned by Get: it frees one in-flight slot of its
// host and finishes one task in the cluster. Only it.ID and it.Host are
// read. If the lease was handed out again meanwhile (it expired, or this
// node was taken for dead), Done is stale and changes nothing but the count
// Stale returns. Errors (Done has no result) are kept for Err, except
// ErrClosed: after Close the lease was handed back anyway. Done panics on
// an item with ID 0, which Get never returns.
//
// Done does not wait for Redis: it leaves the ack to this node's next
// claim, which applies it first, in the same script, or, if no claim comes
// within 5 ms, to a batch sent by the node (see the package doc). Join,
// Stats, Stale, Finish and Close send the acks left over first.
func (f *Frontier) Done(it queue.Item) {
	if it.ID == 0 {
		panic("redisq: Done of an item Get did not return (ID 0), host " + it.Host)
	}
	f.unhold(it.ID)
	f.ackMu.Lock()
	if f.closing {
		f.ackMu.Unlock()
		return // Close handed the lease back
	}
	f.acks = append(f.acks, pendingAck{id: it.ID, host: it.Host, url: it.URL, clear: f.takeClear(it.Host)})
	first := len(f.acks) == 1
	f.ackMu.Unlock()
	if first {
		f.kickAcks()
	}
	// A sleeping Get claims at once: its claim carries the ack, and may
	// take the slot it frees.
	f.nudge()
}

// Release hands the lease of an item returned by Get back at once, without
// finishing it, for an item whose outcome could not be recorded (or that the
// crawl stopped before): the item goes back to the front of its host's list
// for any node to claim, and stays pending, so Join still waits for it. Only
// it.ID is read. Release never acks: if its call fails (after RetryFor) the
// error is kept for Err, and the lease, no longer renewed, is handed back
// by Close or expires after LeaseTTL. After Close it does nothing, Close having handed
// the lease back. It panics on an item with ID 0, which Get never returns.
func (f *Frontier) Release(it queue.Item) {
	if it.ID == 0 {
		panic("redisq: Release of an item Get did not return (ID 0), host " + it.Host)
	}
	// Not renewed any more: if the hand-back below fails, the lease
	// expires and the item is claimed again.
	f.unhold(it.ID)
	f.ackMu.Lock()
	closing := f.closing
	f.ackMu.Unlock()
	if closing || f.usable(f.ctx) != nil {
		return // Close hands the lease back, or the crawl is lost
	}
	// A repeat finds the lease gone and does nothing.
	err := f.retry(f.ctx, transient, func() error {
		return f.run(f.ctx, handbackScript, it.ID).Err()
	})
	if err != nil {
		if f.ctx.Err() == nil {
			f.fail(fmt.Errorf("redisq: release %s (lease %d): %w", it.URL, it.ID, err))
		}
		return
	}
	f.broadcast()
}

// Finish is Done with a context and an error result: it sends the ack at
// once (with any acks this node had not sent yet) and waits for it. It
// returns an error wrapping ErrStateLost if the crawl's state vanished.
func (f *Frontier) Finish(ctx context.Context, it queue.Item) error {
	if err := f.usable(ctx); err != nil {
		if f.ctx.Err() != nil {
			return ErrClosed
		}
		return err
	}
	f.unhold(it.ID)
	own := pendingAck{id: it.ID, host: it.Host, url: it.URL, clear: f.takeClear(it.Host)}
	for {
		taken := f.takeAcks()
		acks := taken
		last := len(acks) < ackBatch
		if last {
			acks = append(acks[:len(acks):len(acks)], own)
		}
		err := f.sendAcks(ctx, acks, last)
		f.sent(taken)
		if err != nil && own.clear {
			f.HostSucceeded(own.host) // for the next ack of the host to carry
		}
		if err != nil {
			if f.ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("redisq: done %s (lease %d): %w", it.URL, it.ID, err)
		}
		if last {
			return nil
		}
	}
}

// kickAcks asks the ack loop to send the acks waiting, ackDelay from now.
func (f *Frontier) kickAcks() {
	select {
	case f.ackKick <- struct{}{}:
	default:
	}
}

// takeAcks takes up to ackBatch of the acks waiting to be sent.
func (f *Frontier) takeAcks() []pendingAck {
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	n := min(len(f.acks), ackBatch)
	if n == 0 {
		return nil
	}
	acks := append([]pendingAck(nil), f.acks[:n]...)
	f.acks = append(f.acks[:0], f.acks[n:]...)
	if len(f.acks) > 0 {
		f.kickAcks()
	}
	if f.sending++; f.sending == 1 {
		f.idle = make(chan struct{})
	}
	return acks
}

// sent ends the call that carried acks taken by takeAcks.
func (f *Frontier) sent(taken []pendingAck) {
	if len(taken) == 0 {
		return
	}
	f.ackMu.Lock()
	if f.sending--; f.sending == 0 {
		close(f.idle)
	}
	f.ackMu.Unlock()
}

// ackArgs are the ARGV of acks for the scripts' acks function.
func ackArgs(acks []pendingAck) []any {
	a := make([]any, 0, 1+3*len(acks))
	a = append(a, len(acks))
	for _, k := range acks {
		flags := ""
		if k.ran {
			flags += "1"
		}
		if k.clear {
			flags += "c"
		}
		a = append(a, k.id, k.host, flags)
	}
	return a
}

// markRan flags acks as carried by a try that may have run.
func markRan(acks []pendingAck) {
	for i := range acks {
		acks[i].ran = true
	}
}

// acked takes in the results of acks that Redis applied (reply, a list of
// ackone's results): it counts the stale ones and reports an ack of the
// wrong host, to Err or, for the last ack when own is not nil, in *own;
// then it wakes this node's Joins.
func (f *Frontier) acked(acks []pendingAck, reply any, own *error) {
	if len(acks) == 0 {
		return
	}
	codes, _ := reply.([]any)
	for i, k := range acks {
		var c int64 = 1
		if i < len(codes) {
			c, _ = codes[i].(int64)
		}
		switch c {
		case -1:
			f.stale.Add(1)
		case -2:
			err := fmt.Errorf("redisq: done %s (lease %d): the lease is not of host %s", k.url, k.id, k.host)
			if own != nil && i == len(acks)-1 {
				*own = err
			} else {
				f.fail(err)
			}
		}
	}
	f.wakeJoins()
}

// unsentAcks deals with acks whose script call failed with err (they may
// or may not have been applied, and are flagged so): if the call was cut
// short by ctx or Close, they wait again for the next claim or flush (or
// Close); otherwise, as for a Done that failed, the error goes to Err and
// the leases expire. A lost crawl drops them.
func (f *Frontier) unsentAcks(ctx context.Context, acks []pendingAck, err error) {
	if len(acks) == 0 || f.lost.Load() {
		return
	}
	if ctx.Err() != nil || f.ctx.Err() != nil {
		f.ackMu.Lock()
		if !f.closing {
			f.acks = append(f.acks, acks...)
			f.kickAcks()
		}
		f.ackMu.Unlock()
		return
	}
	f.fail(fmt.Errorf("redisq: done (%d leases, first %s lease %d): %w", len(acks), acks[0].url, acks[0].id, err))
}

// sendAcks applies acks in one ackScript call, retried (a repeat finds no
// lease for the acks that had been applied, and does not count them
// stale). With own, an error of the last ack is returned rather than
// kept for Err, and a failed call is not put back.
func (f *Frontier) sendAcks(ctx context.Context, acks []pendingAck, own bool) error {
	if len(acks) == 0 {
		return nil
	}
	var res []any
	err := f.retry(ctx, transient, func() error {
		var err error
		res, err = f.run(ctx, ackScript, ackArgs(acks)...).Slice()
		if err != nil && !unsent(err) {
			markRan(acks)
		}
		return err
	})
	if err != nil {
		if own {
			acks = acks[:len(acks)-1]
		}
		f.unsentAcks(ctx, acks, err)
		return err
	}
	var mine error
	if own {
		f.acked(acks, any(res), &mine)
	} else {
		f.acked(acks, any(res), nil)
	}
	f.broadcast()
	return mine
}

// flush sends every ack waiting, in batches of ackBatch.
func (f *Frontier) flush(ctx context.Context) {
	for {
		acks := f.takeAcks()
		err := f.sendAcks(ctx, acks, false)
		f.sent(acks)
		if len(acks) == 0 || err != nil {
			return
		}
	}
}

// settleAcks sends every ack waiting, and waits until the calls carrying
// acks taken before (by claims or the ack loop) have ended, or ctx is
// done: the Dones this node made before are then applied (or failed).
func (f *Frontier) settleAcks(ctx context.Context) {
	f.flush(ctx)
	f.ackMu.Lock()
	idle := f.idle
	busy := f.sending > 0
	f.ackMu.Unlock()
	if busy {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
}

// ackLoop sends the acks that no claim carried within ackDelay, until
// Close.
func (f *Frontier) ackLoop() {
	defer close(f.ackDone)
	t := time.NewTimer(f.ackWait)
	t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.ackKick:
		}
		t.Reset(f.ackWait)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(f.ctx, callLimit)
		f.flush(ctx)
		cancel()
	}
}

// Stale returns how many of this node's Dones came after their lease had
// been handed out again: pages fetched twice because a lease expired or
// the node was taken for dead. It sends this node's acks left over first,
// so that it counts every Done made before it.
func (f *Frontier) Stale() int64 {
	f.flushNow()
	return f.stale.Load()
}

// flushNow sends the acks left over, within callLimit.
func (f *Frontier) flushNow() {
	ctx, cancel := context.WithTimeout(f.ctx, callLimit)
	defer cancel()
	f.settleAcks(ctx)
}

// Join blocks until nothing is queued or leased anywhere in the cluster,
// returning nil at once if so, or until ctx is done (ctx.Err()). It polls
// Redis every 100 ms, sending this node's acks left over first, and when
// this node's acks were applied or it queued work. After Close it returns ErrClosed; if the
// crawl's state vanished, an error wrapping ErrStateLost.
func (f *Frontier) Join(ctx context.Context) error {
	var flushed time.Time
	for {
		if f.usable(ctx) == nil && time.Since(flushed) >= joinPoll {
			// At every poll, not at every wake (the claims that wake it
			// carry this node's acks): so that a Done left waiting, were
			// the ack loop stalled, cannot keep Join waiting.
			f.settleAcks(ctx)
			flushed = time.Now()
		}
		if err := f.usable(ctx); err != nil {
			return err
		}
		wake := f.wakeChan()
		var res []int64
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, statsScript).Int64Slice()
			return err
		})
		if err != nil {
			if err := f.usable(ctx); err != nil {
				return err
			}
			return fmt.Errorf("redisq: join: %w", err)
		}
		if res[0] <= 0 {
			return nil
		}
		f.sleep(ctx, joinPoll, wake)
	}
}

// SetInterval sets the least time between two request starts to host, for
// every node: an interval longer than 1/Rate replaces the rate with one
// request per interval (burst 1), and the next start is also at least the
// interval after the last one; a shorter one, 0 or a negative one restores
// the configured rate. The interval lasts until cleared. Errors go to Err.
func (f *Frontier) SetInterval(ctx context.Context, host string, d time.Duration) {
	us := int64(0)
	if d > 0 {
		us = (d + time.Microsecond - 1).Microseconds()
		if f.t > 0 && float64(us) <= f.t {
			us = 0
		}
	}
	for cur := f.maxIV.Load(); us > cur && !f.maxIV.CompareAndSwap(cur, us); cur = f.maxIV.Load() {
	}
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) { c.ivAt, c.iv = now, d })
	f.control(ctx, "set interval", intervalScript, host, us)
}

// Block makes no node hand out an item of host before until, measured as
// the duration from this node's clock added to Redis's. A block never
// shortens (a later Block with an earlier until is ignored) except by
// Unblock; a past until does nothing. Errors go to Err.
func (f *Frontier) Block(ctx context.Context, host string, until time.Time) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) {
		if c.blockAt.IsZero() || c.until.IsZero() || until.After(c.until) {
			c.until = until // the longest block since the last Unblock
		}
		c.blockAt = now
	})
	f.control(ctx, "block", blockScript, host, (d + time.Microsecond - 1).Microseconds())
}

// Unblock lifts any block on host at once, for every node. Errors go to
// Err.
func (f *Frontier) Unblock(ctx context.Context, host string) {
	now := time.Now()
	f.remember(host, now, func(c *hostCtl) { c.blockAt, c.until = now, time.Time{} })
	f.control(ctx, "unblock", unblockScript, host)
}

// ctlKeep is how long before Redis's last reply a SetInterval or Block
// may have been made and still be lost with the AOF's tail (appendfsync
// everysec holds writes back for up to 2 s when the disk lags).
const ctlKeep = 5 * time.Second

// hostCtl is the latest SetInterval and Block (or Unblock) this node made
// for one host, and when.
type hostCtl struct {
	ivAt    time.Time // zero if none kept
	iv      time.Duration
	blockAt time.Time // zero if none kept
	until   time.Time // zero for an Unblock
}

// remember keeps a SetInterval (iv) or a Block or Unblock (block) for
// replayControls, and forgets, at most once a second, those older than
// ctlKeep before Redis's last reply: a rollback cannot have lost them.
func (f *Frontier) remember(host string, now time.Time, set func(*hostCtl)) {
	f.runMu.Lock()
	cut, noticed := f.runAt.Add(-ctlKeep), f.runID != ""
	f.runMu.Unlock()
	if !noticed {
		return // restarts go unnoticed (Open warned): nothing would be replayed
	}
	f.ctlMu.Lock()
	defer f.ctlMu.Unlock()
	c := f.ctls[host]
	if c == nil {
		c = &hostCtl{}
		f.ctls[host] = c
	}
	set(c)
	if now.Sub(f.ctlPrune) < time.Second {
		return
	}
	f.ctlPrune = now
	for h, c := range f.ctls {
		if c.ivAt.Before(cut) {
			c.ivAt = time.Time{}
		}
		if c.blockAt.Before(cut) {
			c.blockAt = time.Time{}
		}
		if c.ivAt.IsZero() && c.blockAt.IsZero() {
			delete(f.ctls, h)
		}
	}
}

// replayControls makes again the SetIntervals and Blocks (or Unblocks)
// this node made since from, after a Redis rollback that may have lost
// them: the crawler sets a host's Crawl-delay or autothrottle interval
// only when it changes, and a Retry-After once, so a lost one would stay
// lost. Each is idempotent (a Block never shortens; one already past is
// skipped).
func (f *Frontier) replayControls(from time.Time) {
	f.ctlMu.Lock()
	var ivs, blocks []string
	for h, c := range f.ctls {
		if !c.ivAt.IsZero() && !c.ivAt.Before(from) {
			ivs = append(ivs, h)
		}
		if !c.blockAt.IsZero() && !c.blockAt.Before(from) {
			blocks = append(blocks, h)
		}
	}
	f.ctlMu.Unlock()
	for _, h := range ivs {
		f.ctlMu.Lock()
		iv := f.ctls[h].iv
		f.ctlMu.Unlock()
		f.SetInterval(f.ctx, h, iv)
	}
	for _, h := range blocks {
		f.ctlMu.Lock()
		until := f.ctls[h].until
		f.ctlMu.Unlock()
		if until.IsZero() {
			f.Unblock(f.ctx, h)
		} else {
			f.Block(f.ctx, h, until)
		}
	}
}

// control runs one of the host-setting scripts, retried (they are
// idempotent) until ctx ends or the frontier closes, and wakes this node's
// Gets.
func (f *Frontier) control(ctx context.Context, what string, script *redis.Script, host string, args ...any) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.ctx, cancel)()
	if f.usable(ctx) != nil {
		return
	}
	err := f.retry(ctx, transient, func() error {
		return f.run(ctx, script, append([]any{host}, args...)...).Err()
	})
	if err != nil {
		if ctx.Err() == nil {
			f.fail(fmt.Errorf("redisq: %s %s: %w", what, host, err))
		}
		return
	}
	f.broadcast()
}

// Stats returns a snapshot of the cluster's frontier: Queued and InFlight
// (leases) over all nodes, Hosts with queued items, HostsWaiting (of those,
// the ones not ready now: paced, blocked or at their in-flight cap), and
// Seen (distinct URLs added), after sending this node's acks left over.
// Blocked, Spilled and MemoryBytes are not tracked (0). If Redis cannot be read within 10 s it returns the zero
// Stats.
func (f *Frontier) Stats() queue.Stats {
	ctx, cancel := context.WithTimeout(f.ctx, callLimit)
	defer cancel()
	f.settleAcks(ctx)
	res, err := f.run(ctx, statsScript).Int64Slice()
	if err != nil {
		_ = f.check(err)
		return queue.Stats{}
	}
	pending, seenN, leases, active, ready := res[0], res[1], res[2], res[3], res[4]
	return queue.Stats{
		Queued:       int(max(pending-leases, 0)),
		InFlight:     int(leases),
		Hosts:        int(active),
		HostsWaiting: int(max(active-ready, 0)),
		Seen:         int(seenN),
	}
}

// beatLoop is the heartbeat: it records that the node lives, renews the
// leases it holds and hands back the leases of dead nodes, until Close.
func (f *Frontier) beatLoop() {
	defer close(f.beatDone)
	t := time.NewTicker(f.beat)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.noBeat:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(f.ctx, min(callLimit, time.Duration(f.deadUS)*time.Microsecond/2))
		args := append([]any{f.node, f.deadUS, reapNodes, f.maxIV.Load(), f.leaseUS}, f.heldIDs()...)
		res, err := f.run(ctx, heartbeatScript, args...).Slice()
		cancel()
		if err != nil {
			// A missed beat is retried at the next tick; only a lost crawl
			// is final (check records it for Err).
			_ = f.check(err)
			continue
		}
		if len(res) < 3 {
			continue
		}
		if run, _ := res[2].(string); run != "" {
			f.noteRun(run)
		}
		if n, _ := res[1].(int64); n > 0 {
			f.broadcast() // leases of a dead node were queued again
		}
	}
}

// Close stops the heartbeat, hands this node's leases (items Get returned
// and Done has not finished) back to the front of their hosts' lists for
// other nodes, removes the node from the crawl and, if Open built the
// client, closes it. Get, Join, Add, Put then fail with ErrClosed. It
// returns the first error Done met (see Err), or the hand-back's. The
// crawl's state stays in Redis for other nodes and later runs.
func (f *Frontier) Close() error {
	err := ErrClosed
	f.closeOnce.Do(func() {
		f.halt()
		ctx, cancel := context.WithTimeout(context.Background(), callLimit)
		defer cancel()
		// Claims cut short by the halt put the acks they carried back.
		f.ackMu.Lock()
		idle, busy := f.idle, f.sending > 0
		f.ackMu.Unlock()
		if busy {
			select {
			case <-idle:
			case <-ctx.Done():
			}
		}
		f.ackMu.Lock()
		acks := f.acks
		f.acks, f.closing = nil, true
		f.ackMu.Unlock()
		ackErr := error(nil)
		for len(acks) > 0 && ackErr == nil && !f.lost.Load() {
			n := min(len(acks), ackBatch)
			ackErr = f.sendAcks(ctx, acks[:n], false)
			acks = acks[n:]
		}
		f.failMu.Lock()
		err = f.failure
		f.failMu.Unlock()
		if ackErr != nil && err == nil {
			err = fmt.Errorf("redisq: close: send acks: %w", ackErr)
		}
		if !f.lost.Load() {
			if e := f.run(ctx, releaseScript, f.node).Err(); e != nil && err == nil {
				err = fmt.Errorf("redisq: close: hand back leases: %w", f.check(e))
			}
		}
		if f.own {
			if e := f.rdb.Close(); e != nil && err == nil {
				err = e
			}
		}
	})
	return err
}

// halt stops the calls in progress, the heartbeat and the ack loop, and
// waits for them to end.
func (f *Frontier) halt() {
	f.stop()
	<-f.beatDone
	<-f.ackDone
}

// kill stops the node as a crash would, for tests: no more heartbeats,
// leases left in Redis, the client closed if Open built it.
func (f *Frontier) kill() {
	f.closeOnce.Do(func() {
		f.halt()
		if f.own {
			_ = f.rdb.Close()
		}
	})
}

// Item records: a version byte, then Depth, Kind, Redirects, Attempt,
// Origin and URL. The host is the list's key; the ID is the lease's.
// Integers are varints; Origin is uvarint length and bytes; the URL is the
// rest. A field is added under a new version byte, decode reading both:
// version 2 has Via (uvarint length and bytes) after Origin, and is written
// only for an item that has one.
//
// Version 3, written in a crawl that keeps depths (Options.MaxDepth), is
// the byte 3, the URL's seen.Fingerprint (8 bytes, big-endian), then a
// version 1 or 2 record: the scripts read the fingerprint to find the
// URL's seen member, and its kind byte, after the depth varint.
const (
	recVersion    = 1
	recVersionVia = 2
	recVersionFP  = 3
)

func encode(it queue.Item) []byte {
	b := make([]byte, 0, 14+len(it.Origin)+len(it.Via)+len(it.URL))
	if it.Via == "" {
		b = append(b, recVersion)
	} else {
		b = append(b, recVersionVia)
	}
	b = binary.AppendVarint(b, int64(it.Depth))
	b = append(b, byte(it.Kind))
	b = binary.AppendVarint(b, int64(it.Redirects))
	b = binary.AppendVarint(b, int64(it.Attempt))
	b = binary.AppendUvarint(b, uint64(len(it.Origin)))
	b = append(b, it.Origin...)
	if it.Via != "" {
		b = binary.AppendUvarint(b, uint64(len(it.Via)))
		b = append(b, it.Via...)
	}
	return append(b, it.URL...)
}

var errRecord = errors.New("malformed item record")

func decode(rec, host string, id uint64) (queue.Item, error) {
	if len(rec) > 9 && rec[0] == recVersionFP {
		rec = rec[9:]
	}
	b := []byte(rec)
	if len(b) < 2 || (b[0] != recVersion && b[0] != recVersionVia) {
		return queue.Item{}, errRecord
	}
	version := b[0]
	b = b[1:]
	varint := func() int {
		v, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return int(v)
	}
	it := queue.Item{Host: host, ID: id}
	it.Depth = varint()
	if len(b) == 0 {
		return queue.Item{}, errRecord
	}
	it.Kind, b = queue.Kind(b[0]), b[1:]
	it.Redirects = varint()
	it.Attempt = varint()
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return queue.Item{}, errRecord
	}
	it.Origin, b = string(b[k:k+int(n)]), b[k+int(n):]
	if version == recVersionVia {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return queue.Item{}, errRecord
		}
		it.Via, b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	it.URL = string(b)
	return it, nil
}
