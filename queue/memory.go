package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/crawld/crawld/internal/seen"
)

// Stats is a snapshot of a frontier's size.
type Stats struct {
	Queued       int   // items waiting in host FIFOs
	InFlight     int   // items handed out by Get and not yet Done
	Hosts        int   // hosts with state held in memory
	HostsWaiting int   // hosts with queued items that Get may not hand out right now (rate-limited, blocked or at their in-flight cap)
	Blocked      int   // hosts under a Block that has not passed yet
	Seen         int   // distinct URLs admitted
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
	seen      *seen.Set // fingerprints of the URLs admitted
	revisit   []seenURL // the URLs admitted, kept only with Config.Revisitable
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
