package queue

import (
	"container/heap"
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

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
