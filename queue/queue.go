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
// Put, Get, Done and Join give WaitGroup-style join semantics, like Python's
// asyncio.Queue: every Put counts one unfinished task, Done finishes one, and
// Join waits until none remain.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Kind says what an Item fetches.
type Kind uint8

const (
	KindPage   Kind = iota // a page admitted by the crawler
	KindRobots             // the host's robots.txt, which the crawler puts before the host's first page
)

// Item is one unit of work. The queue reads only Host; the rest is carried for the crawler.
type Item struct {
	URL       string // absolute, normalised URL to fetch
	Host      string // politeness key: items with the same Host share one rate limiter and one in-flight cap
	Depth     int    // link depth from a seed (seeds are 0)
	Kind      Kind
	Redirects int    // redirect hops that led to this URL (0 for a URL found as a link or seed)
	Origin    string // for a redirect hop, the URL originally admitted; "" otherwise
}

// Config sets the per-host politeness. The zero value means: unlimited rate,
// burst 1, one request in flight per host.
type Config struct {
	Rate               float64 // per-host requests per second; 0 (or negative/+Inf) means unlimited
	Burst              int     // per-host burst; values < 1 mean 1
	PerHostConcurrency int     // max items of one host handed out by Get and not yet Done; values < 1 mean 1
}

// Stats is a snapshot of a frontier's size.
type Stats struct {
	Queued       int // items waiting in host FIFOs
	InFlight     int // items handed out by Get and not yet Done
	Hosts        int // hosts with state held in memory
	HostsWaiting int // hosts with queued items that Get may not hand out right now (rate-limited or at their in-flight cap)
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
}

type host struct {
	name     string
	items    []Item // the FIFO is items[head:]
	head     int
	inFlight int
	lim      *rate.Limiter // nil when the rate is unlimited: a rate.Inf limiter would always allow
	readyAt  time.Time     // when lim next has a token; kept while in ready
	dropAt   time.Time     // when lim is full again; kept while in idle
	seq      uint64        // when the host last became eligible; breaks readyAt ties
	pos      [2]int        // index in ready and idle, -1 when absent
}

func (h *host) queued() int { return len(h.items) - h.head }

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

// NewMemory returns an empty in-memory frontier with the given politeness.
func NewMemory(cfg Config) *Memory {
	m := &Memory{
		limit:   rate.Inf,
		burst:   max(cfg.Burst, 1),
		perHost: max(cfg.PerHostConcurrency, 1),
		wake:    make(chan struct{}, 1),
		hosts:   make(map[string]*host),
		ready: hostHeap{k: inReady, less: func(a, b *host) bool {
			if c := a.readyAt.Compare(b.readyAt); c != 0 {
				return c < 0
			}
			return a.seq < b.seq
		}},
		idle: hostHeap{k: inIdle, less: func(a, b *host) bool { return a.dropAt.Before(b.dropAt) }},
	}
	if cfg.Rate > 0 && !math.IsInf(cfg.Rate, 1) {
		m.limit = rate.Limit(cfg.Rate)
	}
	return m
}

// Put appends it to the FIFO of it.Host and counts one unfinished task. It
// never blocks. It returns an error, and counts nothing, if it.Host is "" or
// ctx is already done.
func (m *Memory) Put(ctx context.Context, it Item) error {
	if it.Host == "" {
		return errNoHost
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	h := m.hosts[it.Host]
	if h == nil {
		h = &host{name: it.Host, pos: [2]int{-1, -1}}
		if m.limit != rate.Inf {
			h.lim = rate.NewLimiter(m.limit, m.burst)
		}
		m.hosts[it.Host] = h
	}
	h.items = append(h.items, it)
	m.queued++
	m.update(h, now)
	m.kick()
	return nil
}

// Get blocks until some host may be fetched now, then hands out the oldest
// item of the host that became ready first and charges that host's limiter
// one token. The caller must call Done with the item when it has finished
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
		if it, ok := m.take(now); ok {
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
	h := m.hosts[it.Host]
	if h == nil || h.inFlight == 0 {
		panic("queue: Done without Get for host " + it.Host)
	}
	now := m.now()
	m.sweep(now)
	h.inFlight--
	m.inFlight--
	m.update(h, now)
	m.kick()
	if m.queued+m.inFlight == 0 && m.joined != nil {
		close(m.joined)
		m.joined = nil
	}
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
	s := Stats{Queued: m.queued, InFlight: m.inFlight, Hosts: len(m.hosts)}
	for _, h := range m.hosts {
		if h.queued() > 0 && (h.pos[inReady] < 0 || h.readyAt.After(now)) {
			s.HostsWaiting++
		}
	}
	return s
}

// now returns the time, or the zero time when hosts are not rate-limited:
// then every eligible host is ready at once, no host waits to be dropped, and
// reading the clock would be wasted work.
func (m *Memory) now() time.Time {
	if m.limit == rate.Inf {
		return time.Time{}
	}
	return time.Now()
}

// take hands out the next item of the top host if that host is ready at now.
func (m *Memory) take(now time.Time) (Item, bool) {
	for m.ready.Len() > 0 && !m.ready.hs[0].readyAt.After(now) {
		h := heap.Pop(&m.ready).(*host)
		// readyAt is checked against TokensAt, so this always succeeds; it
		// is asked anyway so that no rounding slip could ever overspend.
		if h.lim != nil && !h.lim.AllowN(now, 1) {
			m.update(h, now)
			continue
		}
		it := h.pop()
		h.inFlight++
		m.queued--
		m.inFlight++
		m.update(h, now)
		return it, true
	}
	return Item{}, false
}

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

// update restores the heap invariants after h's queue or in-flight count changed.
func (m *Memory) update(h *host, now time.Time) {
	if h.queued() > 0 && h.inFlight < m.perHost && h.pos[inReady] < 0 {
		h.readyAt = now
		if h.lim != nil {
			h.readyAt = tokensAt(h.lim, now, 1)
		}
		m.seq++
		h.seq = m.seq
		heap.Push(&m.ready, h)
	}
	idle := h.queued() == 0 && h.inFlight == 0
	switch {
	case idle && h.pos[inIdle] < 0:
		h.dropAt = now
		if h.lim != nil {
			h.dropAt = tokensAt(h.lim, now, float64(m.burst))
		}
		if h.dropAt.After(now) {
			heap.Push(&m.idle, h)
		} else {
			delete(m.hosts, h.name)
		}
	case !idle && h.pos[inIdle] >= 0:
		heap.Remove(&m.idle, h.pos[inIdle])
	}
}

// sweep drops the idle hosts whose limiters have refilled by now.
func (m *Memory) sweep(now time.Time) {
	for m.idle.Len() > 0 && !m.idle.hs[0].dropAt.After(now) {
		delete(m.hosts, heap.Pop(&m.idle).(*host).name)
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
