package queue

import (
	"container/heap"
	"time"
)

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
