// Package queue is crawld's crawl frontier: it decides which URL is fetched
// next so that every host is crawled politely.
//
// The design follows Mercator. Each host has its own FIFO of items, its own
// token-bucket rate limiter and a cap on requests in flight. The hosts that
// could be served (items queued, below the cap) sit in a min-heap keyed by
// readyAt, the time their limiter next has a token, and Get takes from the
// host at the top. A single FIFO would make workers wait behind whichever
// host is at its head; with the ready-heap a worker never waits for one host
// while another could be fetched now (no head-of-line blocking), and ties go
// to the host that has been eligible longest, so no host starves.
//
// Get charges the host's limiter when it hands an item out, so the rate
// bounds when requests start, however long they take.
//
// Memory held follows the active hosts, not every host ever seen: once a host
// has nothing queued or in flight its state is dropped as soon as its limiter
// has refilled, at which point a fresh limiter would behave identically. The
// idle hosts sit in a second heap keyed by that time, swept by every call, so
// the frontier needs no goroutine of its own.
//
// Crawl-delay from robots.txt, the Retry-After of a 429 or 503, back-off
// after failures and adaptive throttling all slow one host down at run time,
// and they all come down to the same thing: a later readyAt on the same
// clock. SetInterval retunes a host's limiter to one request per interval
// (burst 1); Block sets a time before which the host is not ready, whatever
// its limiter says. A host's readyAt is the later of its limiter's next token
// and the end of its block, so the ready-heap and the waiting Gets honour
// both with no machinery of their own, and an idle host is kept in memory
// until its block has passed too. Intervals must outlive the host's state, so
// they are kept in a map of their own.
//
// Without a rate limit the clock is not read at all while no host held has an
// interval or a block: every eligible host is then ready at once. While one
// has, the whole frontier runs on the clock (see Memory.now).
//
// Put, Get, Done and Join give WaitGroup-style join semantics, like Python's
// asyncio.Queue: every Put counts one unfinished task, Done finishes one, and
// Join waits until none remain.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/time/rate"

	"github.com/crawld/crawld/internal/seen"
)

// Kind says what an Item fetches.
type Kind uint8

const (
	KindPage    Kind = iota // a page admitted by the crawler
	KindSitemap             // a sitemap or sitemap index whose URLs the crawler admits
	// KindExpand is a page fetched again only for its links: it was
	// handed out at a greater depth than a path found since (see
	// Shallower), so its links are taken at the smaller depth. Its record
	// was written when it was first fetched.
	KindExpand
)

// Item is one unit of work. The queue reads only Host; the rest is carried for the crawler.
type Item struct {
	URL       string // absolute, normalised URL to fetch
	Host      string // politeness key: items with the same Host share one rate limiter and one in-flight cap
	Depth     int    // link depth from a seed (seeds are 0)
	Kind      Kind
	Redirects int    // redirect hops that led to this URL (0 for a URL found as a link or seed)
	Origin    string // for a redirect hop, the URL originally admitted; "" otherwise
	Attempt   int    // failed tries so far (0 on the first try)

	// Via, for a redirect hop, lists the hops between Origin and URL,
	// oldest first and separated by spaces (a normalised URL has none), so
	// that a chain coming back on itself is seen as a loop; "" otherwise.
	// A chain is at most max_redirects hops long, which bounds it.
	Via string

	// ID identifies a stored copy of the item for a frontier that keeps
	// items outside memory (the embedded store): it sets ID when the item is
	// queued and finds the copy again by it when the item is Done. Memory
	// keeps it as given and never reads it.
	ID uint64
}

// Config sets the per-host politeness. The zero value means: unlimited rate,
// burst 1, one request in flight per host.
type Config struct {
	Rate               float64 // per-host requests per second; 0 (or negative/+Inf) means unlimited
	Burst              int     // per-host burst; values < 1 mean 1
	PerHostConcurrency int     // max items of one host handed out by Get and not yet Done; values < 1 mean 1
	// Revisitable keeps every URL given to Add (not just its 8-byte
	// fingerprint), so that Revisit can queue them all again.
	Revisitable bool
	// Depths keeps each added URL's depth with its fingerprint (one more
	// byte per slot), so that it is the shortest link distance found: Add
	// of a known URL at a smaller depth lowers it (Shallower), and Get
	// hands an item out at its URL's smallest depth. Set it when depths
	// matter (a crawl with max_depth). Reconfigure ignores it.
	Depths bool

	// MemoryLimit bounds, in bytes, the queued items (and the state of the
	// hosts they belong to) that Memory keeps in memory; 0 or less means no
	// bound. Beyond it, items go to Overflow; without an Overflow the limit
	// is not enforced. The size of an item is estimated from its struct and
	// string lengths (see itemBytes), so the bound is on the frontier's
	// data, not on the process's RSS. Reconfigure ignores it.
	MemoryLimit int64
	// Overflow stores the items beyond MemoryLimit. Reconfigure ignores it.
	Overflow Overflow
}

// Overflow keeps, outside memory, the items a Memory with a MemoryLimit
// cannot hold. Memory spills a host's items in the order they were queued
// and takes them back oldest first, and once a host has items spilled every
// new item of that host is spilled too, so the host's FIFO order holds
// across memory and the Overflow.
//
// Memory calls these methods with its lock held, one at a time: they must
// not call back into the Memory, and they should be quick (a local disk).
type Overflow interface {
	// Spill stores it behind every item of it.Host spilled before it. On
	// error the item is not queued and Put returns the error.
	Spill(it Item) error
	// Unspill removes and returns the n oldest spilled items of host, in the
	// order they were spilled. Memory never asks for more items of a host
	// than it has spilled and not yet taken back. On error Get returns it
	// and the items stay spilled.
	Unspill(host string, n int) ([]Item, error)
}

// Stats is a snapshot of a frontier's size.
type Stats struct {
	Queued       int   // items waiting in host FIFOs
	InFlight     int   // items handed out by Get and not yet Done
	Hosts        int   // hosts with state held in memory
	HostsWaiting int   // hosts with queued items that Get may not hand out right now (rate-limited, blocked or at their in-flight cap)
	Blocked      int   // hosts under a Block that has not passed yet
	Seen         int   // distinct URLs given to Add
	Spilled      int   // of the Queued items, those held by the Overflow
	MemoryBytes  int64 // estimated bytes of the queued items and hosts held in memory (see Config.MemoryLimit)
}

var errNoHost = errors.New("queue: item has no host")

// Memory is an in-memory frontier. It is safe for concurrent use and starts
// no goroutines. Create it with NewMemory; the zero value is not usable.
type Memory struct {
	limit   rate.Limit // rate.Inf when hosts are not rate-limited
	burst   int
	perHost int

	// wake holds at most one token asking one blocked Get to look again.
	// Waking one Get instead of all avoids a thundering herd of workers; a
	// Get that takes an item or gives up passes the token on if more work
	// may be waiting (see kick), so no wake-up is lost.
	wake chan struct{}

	mu       sync.Mutex
	hosts    map[string]*host
	ready    hostHeap // hosts Get may serve, by readyAt then seq
	idle     hostHeap // hosts with nothing queued or in flight, by dropAt
	seq      uint64
	queued   int
	inFlight int
	joined   chan struct{} // closed when queued+inFlight drops to 0; nil if no Join is waiting
	waiters  int           // Gets blocked in wait
	timerAt  time.Time     // the earliest deadline a blocked Get has a timer for; zero if none

	// intervals holds the SetInterval settings in effect (longer than
	// 1/Rate), including those of hosts whose state was dropped.
	intervals map[string]time.Duration

	keepAll bool // Config.Revisitable
	// fetched keeps the fetch metadata of each URL, with
	// Config.Revisitable; nil otherwise. It has its own lock, so that a
	// worker saving it never waits for the scheduling.
	fetchedMu sync.Mutex
	fetched   map[string]fetchMeta
	depths    bool      // Config.Depths: seen keeps a depthValue with each URL
	seen      *seen.Set // fingerprints of the URLs given to Add
	revisit   []seenURL // the URLs given to Add, kept only with Config.Revisitable
	counted   int       // items admitted that counted toward Limits.Pages
	// hostPages counts, per host, the items admitted that counted toward
	// Limits.PagesPerHost; nil until one did.
	hostPages map[string]int
	timed     int       // hosts held with an interval or a block (see now)
	last      time.Time // the clock's latest reading, zero if never read

	overflow Overflow // nil when items are never spilled
	memLimit int64    // Config.MemoryLimit, when overflow is set
	bytes    int64    // itemBytes of the items in host FIFOs, plus hostBytes per host held
	spilled  int      // items held by overflow
}

// seenURL is what a new round needs to queue a seen URL again.
type seenURL struct {
	url   string
	host  string
	depth int32
	kind  Kind
}

type host struct {
	// The fields the heaps compare and swap come first, to share a cache line.
	readyAt time.Time // when the host may next be handed an item (see due); kept while in ready
	seq     uint64    // when the host last became eligible; breaks readyAt ties
	pos     [2]int    // index in ready and idle, -1 when absent

	name     string
	items    []Item // the head of the FIFO, in memory, is items[head:]
	head     int
	spilled  int // the FIFO's tail, held by the Overflow, behind items
	inFlight int
	lim      *rate.Limiter // nil when the rate is unlimited (and no interval is set): a rate.Inf limiter would always allow
	dropAt   time.Time     // when lim is full again and any block has passed; kept while in idle

	interval     time.Duration // from SetInterval; 0 when the configured rate applies
	blockedUntil time.Time     // from Block; zero when lifted or seen to have passed
	lastStart    time.Time     // when Get last handed out an item of the host, if read from the clock
	blindStart   bool          // the last hand-out was made without reading the clock (see Memory.now)
}

// queued returns the length of h's FIFO, in memory and spilled.
func (h *host) queued() int { return h.held() + h.spilled }

// held returns the number of h's queued items in memory.
func (h *host) held() int { return len(h.items) - h.head }

// timed reports whether h needs the clock even when the rate is unlimited.
func (h *host) timed() bool { return h.interval > 0 || !h.blockedUntil.IsZero() }

// due returns the earliest time, not before now, at which h may start a
// request (full false), or at which dropping its state would lose nothing
// (full true): the latest of when its limiter holds one token (or is full),
// its last start plus its interval, and the end of its block.
//
// The interval term matters only just after SetInterval, when a limiter
// retuned from a larger burst may still hold a token; from the next start on
// the burst-1 limiter alone keeps the spacing.
func (h *host) due(now time.Time, full bool) time.Time {
	t := now
	if h.lim != nil {
		n := 1.0
		if full {
			n = float64(h.lim.Burst())
		}
		t = tokensAt(h.lim, now, n)
	}
	if h.interval > 0 {
		if at := h.lastStart.Add(h.interval); at.After(t) {
			t = at
		}
	}
	if h.blockedUntil.After(t) {
		t = h.blockedUntil
	}
	return t
}

// pop removes the oldest item. It reuses the slice's array instead of
// reslicing it away, so a host whose queue keeps draining and refilling does
// not allocate; compacting once the dead prefix is half the slice keeps a
// queue that never drains from growing without bound, at amortised O(1).
func (h *host) pop() Item {
	it := h.items[h.head]
	h.items[h.head] = Item{} // let the strings go
	h.head++
	if h.head*2 >= len(h.items) {
		n := copy(h.items, h.items[h.head:])
		clear(h.items[n:])
		h.items, h.head = h.items[:n], 0
	}
	return it
}

// unpop puts it back in front of the oldest item.
func (h *host) unpop(it Item) {
	if h.head > 0 {
		h.head--
		h.items[h.head] = it
		return
	}
	h.items = slices.Insert(h.items, 0, it)
}

// NewMemory returns an empty in-memory frontier with the given politeness.
func NewMemory(cfg Config) *Memory {
	if cfg.MemoryLimit <= 0 {
		cfg.Overflow = nil // no bound: nothing is ever spilled
	}
	return &Memory{
		limit:    limitOf(cfg.Rate),
		burst:    max(cfg.Burst, 1),
		perHost:  max(cfg.PerHostConcurrency, 1),
		wake:     make(chan struct{}, 1),
		hosts:    make(map[string]*host),
		seen:     newSeen(cfg.Depths),
		depths:   cfg.Depths,
		keepAll:  cfg.Revisitable,
		fetched:  fetchedMap(cfg.Revisitable),
		overflow: cfg.Overflow,
		memLimit: cfg.MemoryLimit,
		ready: hostHeap{k: inReady, less: func(a, b *host) bool {
			if c := a.readyAt.Compare(b.readyAt); c != 0 {
				return c < 0
			}
			return a.seq < b.seq
		}},
		idle: hostHeap{k: inIdle, less: func(a, b *host) bool { return a.dropAt.Before(b.dropAt) }},
	}
}

func newSeen(depths bool) *seen.Set {
	if depths {
		return seen.NewWithValues(0)
	}
	return seen.New(0)
}

// Put appends it to the FIFO of it.Host and counts one unfinished task,
// whether or not its URL was added before (a retry puts an item back). It
// never blocks. It returns an error, and counts nothing, if it.Host is "",
// ctx is already done or the Overflow fails to take it.
func (m *Memory) Put(ctx context.Context, it Item) error {
	if it.Host == "" {
		return errNoHost
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.put(it); err != nil {
		return err
	}
	m.requeued(it)
	return nil
}

// put queues it, in memory or, once over the memory limit, in the
// overflow; m.mu is held.
func (m *Memory) put(it Item) error {
	now := m.now()
	m.sweep(now)
	h := m.hosts[it.Host]
	if h == nil {
		// If the host has an interval, now may be m.last rather than a
		// reading; that is no matter: its limiter is full, and m.last is
		// no earlier than any readyAt in the heap.
		h = m.newHost(it.Host)
	}
	size := itemBytes(it)
	if m.overflow != nil && (h.spilled > 0 || m.bytes+size > m.memLimit) {
		if err := m.overflow.Spill(it); err != nil {
			m.update(h, now) // drops a host created for it
			return fmt.Errorf("queue: spill %s: %w", it.URL, err)
		}
		h.spilled++
		m.spilled++
	} else {
		h.items = append(h.items, it)
		m.bytes += size
	}
	m.queued++
	m.update(h, now)
	m.kick()
	return nil
}

// Get blocks until some host may be fetched now, then hands out the oldest
// item of the host that became ready first and charges that host's limiter
// one token. With Config.Depths the item's Depth is its URL's smallest
// known. The caller must call Done with the item when it has finished
// with it. If ctx is done, Get returns ctx.Err() and no item, even if one is
// available.
func (m *Memory) Get(ctx context.Context) (Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			m.kick() // in case this Get was woken for work it will not take
			return Item{}, err
		}
		now := m.now()
		m.sweep(now)
		it, ok, err := m.take(now)
		if err != nil {
			m.kick()
			return Item{}, err
		}
		if ok {
			m.kick()
			return it, nil
		}
		m.wait(ctx, now)
	}
}

// Done marks an item returned by Get as finished: it frees one in-flight slot
// of it.Host and finishes one task, releasing Join when none remain. Only
// it.Host is read. Done panics if it.Host has no item from Get outstanding.
func (m *Memory) Done(it Item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, now := m.settle(it, "Done")
	m.update(h, now)
	m.kick()
	if m.queued+m.inFlight == 0 && m.joined != nil {
		close(m.joined)
		m.joined = nil
	}
}

// settle frees the in-flight slot of an item Get returned, for op (Done or
// Release), and returns its host and the time; it panics if it.Host has no
// item from Get outstanding. m.mu is held.
func (m *Memory) settle(it Item, op string) (*host, time.Time) {
	h := m.hosts[it.Host]
	if h == nil || h.inFlight == 0 {
		panic("queue: " + op + " without Get for host " + it.Host)
	}
	now := m.now()
	m.sweep(now)
	h.inFlight--
	m.inFlight--
	return h, now
}

// Release gives back an item returned by Get without finishing it, for an
// item whose outcome could not be recorded or that the crawl stopped before:
// it becomes the oldest queued item of its host again, to be handed out by a
// later Get (charging the host's limiter then), its in-flight slot is freed,
// and its task stays unfinished, so Join still waits for it. It is kept in
// memory even beyond Config.MemoryLimit, since it comes before every spilled
// item of its host. Only it.Host is read besides the item itself. Release
// panics if it.Host has no item from Get outstanding, as Done does.
func (m *Memory) Release(it Item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, now := m.settle(it, "Release")
	h.unpop(it)
	m.bytes += itemBytes(it)
	m.queued++
	m.update(h, now)
	m.kick()
}

// Join blocks until every item Put so far has been marked Done, returning nil
// at once if none is unfinished, or until ctx is done, returning ctx.Err().
// A Put after Join returned makes the next Join wait again.
func (m *Memory) Join(ctx context.Context) error {
	m.mu.Lock()
	if m.queued+m.inFlight == 0 {
		m.mu.Unlock()
		return nil
	}
	if m.joined == nil {
		m.joined = make(chan struct{})
	}
	joined := m.joined
	m.mu.Unlock()
	select {
	case <-joined:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a snapshot of the frontier's size. It takes time linear in
// the number of hosts held, so it is meant for monitoring, not for every Get.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	s := Stats{Queued: m.queued, InFlight: m.inFlight, Hosts: len(m.hosts), Seen: m.seen.Len(), Spilled: m.spilled, MemoryBytes: m.bytes}
	for _, h := range m.hosts {
		if h.queued() > 0 && (h.pos[inReady] < 0 || h.readyAt.After(now)) {
			s.HostsWaiting++
		}
		if h.blockedUntil.After(now) {
			s.Blocked++
		}
	}
	return s
}

// Holds reports whether the frontier holds state for host: items queued or
// in flight, a block, or a limiter not yet full again. Once it is false the
// host is idle and the frontier has forgotten it (but for its interval), so
// a caller may forget what it keeps about the host too.
func (m *Memory) Holds(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.now())
	return m.hosts[host] != nil
}

// SetInterval sets the minimum time between the starts of two requests to
// host. An interval longer than 1/Config.Rate replaces the configured rate
// for that host, with a burst of 1 (Crawl-delay means one request per
// interval, never a burst); a shorter one (or 0, or a negative one) restores
// the configured Rate and Burst. The setting outlives the host's idle state:
// it is kept until SetInterval(host, 0) clears it, so a host dropped while
// idle and seen again later is still paced by it. Takes effect for the next
// hand-out: if the host is in the ready-heap its readyAt moves later
// accordingly (never earlier than already charged tokens allow).
//
// The host's limiter is retuned in place, so tokens already spent stay
// spent: a change never refills it, it only changes how fast it refills and
// how full it may get. With an interval the next start is moreover at least
// the interval after the last one; a last start made while the frontier ran
// without the clock (unlimited rate, nothing timed) is taken to be now.
//
// The context is not used: Memory never waits, it takes it to be a
// crawler.Frontier, whose shared implementation may.
func (m *Memory) SetInterval(_ context.Context, host string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)
	if rate.Every(d) >= m.limit { // d ≤ 1/Rate, or d ≤ 0
		d = 0
		delete(m.intervals, host)
	} else {
		if m.intervals == nil {
			m.intervals = make(map[string]time.Duration)
		}
		m.intervals[host] = d
	}
	h := m.hosts[host]
	if h == nil || h.interval == d {
		return
	}
	was := h.timed()
	h.interval = d
	if h.blindStart {
		h.lastStart, h.blindStart = now, false
	}
	m.retune(h, now)
	m.recount(h, was)
	m.retime(h, now)
	m.kick()
}

// retune makes h's limiter pace it by its interval (one request per
// interval, no burst) or else by the configured rate and burst, keeping the
// tokens already spent.
func (m *Memory) retune(h *host, now time.Time) {
	limit, burst := m.limit, m.burst
	if h.interval > 0 {
		limit, burst = rate.Every(h.interval), 1
	}
	switch {
	case limit == rate.Inf:
		h.lim = nil
	case h.lim == nil:
		h.lim = rate.NewLimiter(limit, burst)
	default:
		h.lim.SetLimitAt(now, limit)
		h.lim.SetBurstAt(now, burst)
	}
}

// limitOf is the per-host limit of a configured rate: 0, negative, NaN and
// +Inf all mean unlimited.
func limitOf(r float64) rate.Limit {
	if r > 0 && !math.IsInf(r, 1) {
		return rate.Limit(r)
	}
	return rate.Inf
}

// Reconfigure changes the politeness of every host to cfg, as a config
// reload does: rate, burst and in-flight cap. Tokens already spent stay
// spent; a SetInterval interval stays in force while it is slower than the
// new rate. A host at or above a lowered cap gets no more items until enough
// of its in-flight ones are Done.
func (m *Memory) Reconfigure(cfg Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)
	m.limit, m.burst, m.perHost = limitOf(cfg.Rate), max(cfg.Burst, 1), max(cfg.PerHostConcurrency, 1)
	for name, d := range m.intervals {
		if rate.Every(d) >= m.limit {
			delete(m.intervals, name)
		}
	}
	for _, h := range m.hosts {
		was := h.timed()
		if h.interval > 0 && rate.Every(h.interval) >= m.limit {
			h.interval = 0
		}
		if h.blindStart {
			h.lastStart, h.blindStart = now, false
		}
		m.retune(h, now)
		if i := h.pos[inReady]; i >= 0 && h.inFlight >= m.perHost {
			heap.Remove(&m.ready, i)
		}
		m.recount(h, was)
		m.retime(h, now)
	}
	m.kick()
}

// Block makes Get hand out no item of host before until. A later Block
// extends it; an earlier until than the current block is ignored (blocks
// never shorten) — except Unblock. The block holds even if the host has
// nothing queued yet (the host's state is created and kept, idle, until the
// block passes). Other hosts are unaffected: a worker never waits on a
// blocked host while another host is ready. An until that has already passed
// does nothing.
// It never waits; the context is not used.
func (m *Memory) Block(_ context.Context, host string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)
	h := m.hosts[host]
	if !until.After(now) || h != nil && !until.After(h.blockedUntil) {
		return
	}
	if h == nil {
		h = m.newHost(host)
	}
	m.setBlock(h, until)
	m.retime(h, now)
	m.kick()
}

// Unblock lifts any block on host at once (used when the crawler sets a dead
// host aside and wants its remaining items drained without waiting). It
// leaves the host's interval and limiter alone.
// It never waits; the context is not used.
func (m *Memory) Unblock(_ context.Context, host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)
	h := m.hosts[host]
	if h == nil || h.blockedUntil.IsZero() {
		return
	}
	m.setBlock(h, time.Time{})
	m.retime(h, now)
	m.kick() // the host may be ready now, before any waiting Get's timer
}

// now returns the time for a call that reads or changes host state.
//
// When hosts are not rate-limited and no host held has an interval or a
// block (m.timed is 0), it returns the clock's last reading instead, without
// reading it: every eligible host is ready at once, no host waits to be
// dropped, and the reading would be wasted work. Handing out m.last rather
// than the zero time keeps readyAt monotonic across the switch between the
// two modes, so a host queued while the clock ran is not overtaken for ever
// by hosts queued later without it.
//
// The switch is for the whole frontier, not per host: the ready-heap orders
// all hosts on one clock, and a host kept on the zero time would sort before
// every host on the real one, starving the hosts with an interval or a block
// even once their time had come. While some host is timed, every call reads
// the clock.
func (m *Memory) now() time.Time {
	if m.clocked() {
		return m.clock()
	}
	return m.last
}

// clocked reports whether now reads the clock.
func (m *Memory) clocked() bool { return m.limit != rate.Inf || m.timed > 0 }

// clock reads the clock. It is kept out of line so that now, called by
// every Put, Get and Done, is inlined.
//
//go:noinline
func (m *Memory) clock() time.Time {
	m.last = time.Now()
	return m.last
}

// newHost creates the state of a host, paced by its interval if it has one.
func (m *Memory) newHost(name string) *host {
	h := &host{name: name, pos: [2]int{-1, -1}, interval: m.intervals[name]}
	if h.interval > 0 {
		m.timed++
	}
	m.retune(h, time.Time{}) // a new limiter starts full, whatever the time
	m.hosts[name] = h
	m.bytes += hostBytes + int64(len(name))
	return h
}

// drop forgets the state of an idle host.
func (m *Memory) drop(h *host) {
	delete(m.hosts, h.name)
	m.bytes -= hostBytes + int64(len(h.name))
	if h.timed() {
		m.timed--
	}
}

// setBlock sets h's block, keeping m.timed in step.
func (m *Memory) setBlock(h *host, until time.Time) {
	was := h.timed()
	h.blockedUntil = until
	m.recount(h, was)
}

// recount keeps m.timed in step after h's interval or block changed; was is
// h.timed() from before the change.
func (m *Memory) recount(h *host, was bool) {
	switch is := h.timed(); {
	case is && !was:
		m.timed++
	case was && !is:
		m.timed--
	}
}

// take hands out the next item of the top host if that host is ready at now.
// It fails only if the host's next items had to be taken back from the
// overflow and could not be.
func (m *Memory) take(now time.Time) (Item, bool, error) {
	for m.ready.Len() > 0 && !m.ready.hs[0].readyAt.After(now) {
		h := heap.Pop(&m.ready).(*host)
		// readyAt is no earlier than the block's end and is checked against
		// TokensAt, so these checks always pass; they are made anyway so
		// that no rounding slip could ever overspend or cut a block short.
		if h.blockedUntil.After(now) || h.lim != nil && !h.lim.AllowN(now, 1) {
			m.update(h, now)
			continue
		}
		if h.held() == 0 {
			if err := m.unspill(h); err != nil {
				m.update(h, now)
				return Item{}, false, err
			}
		}
		it := h.pop()
		m.bytes -= itemBytes(it)
		m.handOut(&it)
		h.inFlight++
		if h.blindStart = !m.clocked(); !h.blindStart {
			h.lastStart = now
		}
		m.queued--
		m.inFlight++
		m.update(h, now)
		return it, true, nil
	}
	return Item{}, false, nil
}

// unspillBatch is how many items of a host unspill takes back at once while
// memory is well under the limit: one read of the overflow per batch rather
// than per item, and few enough that the hosts being served cannot together
// hold much above the limit.
const unspillBatch = 64

// unspill takes back the oldest spilled items of h, which has none in
// memory; m.mu is held. Near the limit it takes one at a time.
func (m *Memory) unspill(h *host) error {
	n := 1
	if m.bytes < m.memLimit/2 {
		n = min(h.spilled, unspillBatch)
	}
	items, err := m.overflow.Unspill(h.name, n)
	if err == nil && len(items) != n {
		err = fmt.Errorf("overflow returned %d items, not %d", len(items), n)
	}
	if err != nil {
		return fmt.Errorf("queue: take back spilled items of %s: %w", h.name, err)
	}
	for _, it := range items {
		h.items = append(h.items, it)
		m.bytes += itemBytes(it)
	}
	h.spilled -= n
	m.spilled -= n
	return nil
}

// itemOverhead is the memory an Item takes besides its strings' bytes: the
// struct in the FIFO's array, with room for the array's growth.
const itemOverhead = int64(unsafe.Sizeof(Item{})) * 3 / 2

// itemBytes estimates the memory a queued item holds.
func itemBytes(it Item) int64 {
	return itemOverhead + int64(len(it.URL)+len(it.Host)+len(it.Origin)+len(it.Via))
}

// hostBytes estimates the memory of a host's state: the struct, its map
// entry and its limiter.
const hostBytes = 320

// wait blocks, with m.mu released, until a wake token arrives, the earliest
// ready host's time comes, or ctx is done.
func (m *Memory) wait(ctx context.Context, now time.Time) {
	var deadline <-chan time.Time
	var at time.Time
	// Only one blocked Get needs a timer for the earliest host; the others
	// rely on it passing the token on, so a host becoming ready wakes one
	// worker rather than all of them.
	if m.ready.Len() > 0 {
		if top := m.ready.hs[0].readyAt; m.timerAt.IsZero() || top.Before(m.timerAt) {
			at, m.timerAt = top, top
			t := time.NewTimer(top.Sub(now))
			defer t.Stop()
			deadline = t.C
		}
	}
	m.waiters++
	m.mu.Unlock()
	select {
	case <-m.wake:
	case <-deadline:
	case <-ctx.Done():
	}
	m.mu.Lock()
	m.waiters--
	if !at.IsZero() && m.timerAt.Equal(at) {
		m.timerAt = time.Time{}
	}
}

// kick wakes one blocked Get if there may be work no blocked Get is already
// set to look at: a host is eligible and no timer covers the earliest one.
// Every change to the ready-heap, and every Get leaving, calls it, so the
// token passes along until all ready work is taken.
func (m *Memory) kick() {
	if m.waiters == 0 || m.ready.Len() == 0 {
		return
	}
	if !m.timerAt.IsZero() && !m.ready.hs[0].readyAt.Before(m.timerAt) {
		return
	}
	select {
	case m.wake <- struct{}{}:
	default: // a token is already pending
	}
}

// update restores the heap invariants after h's queue or in-flight count
// changed, and forgets h's block once it has passed.
func (m *Memory) update(h *host, now time.Time) {
	if !h.blockedUntil.IsZero() && !h.blockedUntil.After(now) {
		m.setBlock(h, time.Time{})
	}
	if h.queued() > 0 && h.inFlight < m.perHost && h.pos[inReady] < 0 {
		h.readyAt = now
		if h.lim != nil || h.timed() {
			h.readyAt = h.due(now, false)
		}
		m.seq++
		h.seq = m.seq
		heap.Push(&m.ready, h)
	}
	idle := h.queued() == 0 && h.inFlight == 0
	switch {
	case idle && h.pos[inIdle] < 0:
		h.dropAt = now
		if h.lim != nil || h.timed() {
			h.dropAt = h.due(now, true)
		}
		if h.dropAt.After(now) {
			heap.Push(&m.idle, h)
		} else {
			m.drop(h)
		}
	case !idle && h.pos[inIdle] >= 0:
		heap.Remove(&m.idle, h.pos[inIdle])
	}
}

// retime puts h back in place after its interval or block changed, so the
// change takes effect for the next hand-out: in the ready-heap at its new
// readyAt, in the idle heap at its new dropAt, or dropped.
func (m *Memory) retime(h *host, now time.Time) {
	if i := h.pos[inReady]; i >= 0 {
		// A host that was ready and still is keeps its readyAt, and so its
		// turn; otherwise readyAt moves, later or earlier.
		if due := h.due(now, false); due.After(now) || h.readyAt.After(now) {
			h.readyAt = due
			heap.Fix(&m.ready, i)
		}
	}
	if i := h.pos[inIdle]; i >= 0 {
		heap.Remove(&m.idle, i)
	}
	m.update(h, now)
}

// sweep drops the idle hosts whose limiters have refilled, and whose blocks
// have passed, by now.
func (m *Memory) sweep(now time.Time) {
	for m.idle.Len() > 0 && !m.idle.hs[0].dropAt.After(now) {
		m.drop(heap.Pop(&m.idle).(*host))
	}
}

// tokensAt returns the earliest time, not before now, at which lim holds n
// tokens. The estimate is rounded up and then confirmed with lim.TokensAt
// itself, so float rounding can cost a nanosecond but never lets a host
// through early, and the readyAt it yields is always strictly in the future
// when the tokens are not there now (no spinning). The doubling step bounds
// the loop whatever the rate.
func tokensAt(lim *rate.Limiter, now time.Time, n float64) time.Time {
	t := now
	if lack := n - lim.TokensAt(now); lack > 0 {
		ns := lack / float64(lim.Limit()) * float64(time.Second)
		t = now.Add(time.Duration(math.Ceil(min(ns, 1<<62))))
	}
	for step := time.Nanosecond; lim.TokensAt(t) < n; step *= 2 {
		t = t.Add(step)
	}
	return t
}

const (
	inReady = iota // index into host.pos
	inIdle
)

// hostHeap is a container/heap of hosts that records each host's index in
// host.pos[k], so a host can be removed from the middle.
type hostHeap struct {
	k    int
	less func(a, b *host) bool
	hs   []*host
}

func (q *hostHeap) Len() int           { return len(q.hs) }
func (q *hostHeap) Less(i, j int) bool { return q.less(q.hs[i], q.hs[j]) }

func (q *hostHeap) Swap(i, j int) {
	q.hs[i], q.hs[j] = q.hs[j], q.hs[i]
	q.hs[i].pos[q.k] = i
	q.hs[j].pos[q.k] = j
}

func (q *hostHeap) Push(x any) {
	h := x.(*host)
	h.pos[q.k] = len(q.hs)
	q.hs = append(q.hs, h)
}

func (q *hostHeap) Pop() any {
	n := len(q.hs) - 1
	h := q.hs[n]
	q.hs[n] = nil
	q.hs = q.hs[:n]
	h.pos[q.k] = -1
	return h
}
