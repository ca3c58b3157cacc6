package queue

import (
	"slices"
	"time"

	"golang.org/x/time/rate"
)

// host is the frontier's state for one politeness key: its FIFO (in
// memory, then spilled), its limiter and pacing, and its place in the heaps.
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
