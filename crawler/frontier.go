package crawler

import (
	"context"
	"time"

	"github.com/crawld/crawld/queue"
)

// This file is the whole contract between the crawler and a frontier: the
// core every frontier implements, and the capabilities some add, each an
// interface of its own. New resolves them once (see capabilities) and Run
// logs them at start, so that a wrapper hiding one shows in the log; the
// tests guard at compile time which backend implements which
// (frontier_guard_test.go), so a backend that loses a method fails to
// build instead of silently crawling with less.
//
//	                 Frontier  SharedFrontier  DurableFrontier  ValidatorStore  HostHolder  CaptureStore
//	queue.Memory         ✓                                            ✓              ✓            ✓
//	store.Frontier       ✓                           ✓                ✓              ✓            ✓
//	redisq.Frontier      ✓            ✓

// Frontier is the work queue the crawler consumes, with WaitGroup-style join
// semantics. It is also the seen set and the keeper of the crawl's
// admission caps, so that those hold however the frontier is stored
// (across a restart, across nodes).
type Frontier interface {
	// Admit queues each of items in order unless its URL was admitted
	// before (earlier in items included), its host has lim.PagesPerHost
	// counted items (OverHostLimit), or lim.Pages counted items were
	// admitted (OverLimit); it returns each item's admission (see
	// queue.Admission, queue.Limits). What it records survives with the
	// frontier: a durable frontier makes the checks and the queueing one
	// step, so a crash loses no URL and no count.
	Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error)
	// Put queues an item again (a retry) and counts one unfinished task; on
	// error nothing was counted.
	Put(ctx context.Context, it queue.Item) error
	// Get blocks until an item whose host may be fetched now, or ctx ends.
	Get(ctx context.Context) (queue.Item, error)
	// Done finishes an item returned by Get: its outcome is recorded, so
	// it is not fetched again.
	Done(it queue.Item)
	// Release gives back an item returned by Get without finishing it,
	// because its outcome could not be recorded or the crawl stopped
	// first: it is queued again (a durable frontier keeps it for the next
	// run), and Join waits for it still.
	Release(it queue.Item)
	// Join blocks until every Put item is Done, or ctx ends.
	Join(ctx context.Context) error
	// SetInterval sets the least time between two request starts to host
	// (Crawl-delay, autothrottle); 0 restores the configured rate. It may
	// wait on the network until ctx ends; a failure is the frontier's to
	// report.
	SetInterval(ctx context.Context, host string, d time.Duration)
	// Block hands out nothing of host before until (Retry-After,
	// back-off), waiting as SetInterval may.
	Block(ctx context.Context, host string, until time.Time)
	// Unblock lifts a Block at once, waiting as SetInterval may.
	Unblock(ctx context.Context, host string)
	// Stats is a snapshot of the frontier's size, for progress lines,
	// /status and /metrics. It never waits on the network.
	Stats() queue.Stats
}

// SharedFrontier is a frontier several crawlers share (one crawl spread
// over several nodes), which keeps for all of them what each would
// otherwise keep alone.
type SharedFrontier interface {
	Frontier
	// HostFailed counts a failed request to host for every node and
	// returns the run of failures in a row so far, so that
	// max_host_failures is the crawl's: a host failing for every node is
	// set aside after max_host_failures failures in all (and one more
	// request by each other node, which learns of it from its own
	// failure), not after that many per node.
	HostFailed(ctx context.Context, host string) (int, error)
	// HostSucceeded ends host's run of failures, for every node. It is
	// called before the item is finished.
	HostSucceeded(host string)
	RobotsStore
}

// NodeNamer is implemented by a frontier shared by several crawlers that
// names this one: each record is stamped with the name (Record.Node), so
// that the nodes' outputs can be told apart once merged.
type NodeNamer interface {
	NodeID() string
}

// RobotsStore keeps robots.txt outcomes for a crawl shared by several
// crawlers, so that one node's robots.txt fetch serves them all for as
// long as it holds.
type RobotsStore interface {
	// LoadRobots returns what SaveRobots stored for authority and how
	// much longer it holds, or nil data when nothing is stored or it has
	// run out.
	LoadRobots(ctx context.Context, authority string) (data []byte, ttl time.Duration, err error)
	// SaveRobots stores a robots.txt outcome for authority for ttl.
	SaveRobots(ctx context.Context, authority string, data []byte, ttl time.Duration) error
}

// DurableFrontier is a frontier whose crawl survives the process: it keeps
// the crawl's counters, so that a resumed crawl goes on counting where it
// stopped.
type DurableFrontier interface {
	Frontier
	Counters() (map[string]int64, error)
	SaveCounters(map[string]int64) error
}

// ValidatorStore is a frontier that keeps each page's fetch metadata (HTTP
// cache validators and the last fetch time), so that fetching it again (a
// recrawl, a resumed crawl) is a conditional request and an unchanged page
// costs a 304.
type ValidatorStore interface {
	Frontier
	Validators(url string) (etag, lastModified string, fetchedAt time.Time, ok bool)
	SaveValidators(url, etag, lastModified string, fetchedAt time.Time) error
}

// CaptureStore is a ValidatorStore that also keeps, per page, the archived
// record holding its payload (the one the archive wrote for its last 200
// with validators), so that a 304 to the conditional request made from
// those validators is archived as a revisit referring to it.
type CaptureStore interface {
	ValidatorStore
	Capture(url string) (c queue.Capture, ok bool)
	SaveCapture(url string, c queue.Capture) error
}

// HostHolder is a frontier that keeps a host's state only while it needs
// it. Holds reports whether it still holds host's: items queued or in
// flight, a block, a rate limiter not yet full again. Once it is false,
// forgetting the host loses nothing the frontier still acts on, so the
// crawler forgets its own state of the host soon after.
type HostHolder interface {
	Frontier
	Holds(host string) bool
}

// capabilities are the frontier's optional interfaces, resolved once by
// New; each is nil when the frontier does not implement it.
type capabilities struct {
	shared     SharedFrontier
	durable    DurableFrontier
	validators ValidatorStore
	holder     HostHolder
	captures   CaptureStore
	node       string // the frontier's name for this crawler (NodeNamer); "" if none
}

func capabilitiesOf(front Frontier) capabilities {
	var c capabilities
	c.shared, _ = front.(SharedFrontier)
	c.durable, _ = front.(DurableFrontier)
	c.validators, _ = front.(ValidatorStore)
	c.holder, _ = front.(HostHolder)
	c.captures, _ = front.(CaptureStore)
	if n, ok := front.(NodeNamer); ok {
		c.node = n.NodeID()
	}
	return c
}
