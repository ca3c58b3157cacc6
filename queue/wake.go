package queue

import (
	"context"
	"time"
)

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
