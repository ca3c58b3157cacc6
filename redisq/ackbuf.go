package redisq

import (
	"context"
	"sync"
)

// pendingAck is a Done not yet applied in Redis.
type pendingAck struct {
	id   uint64
	host string
	url  string
	ran  bool // a try that carried it may have run: its repeat finds no lease, and is not stale
	// clear ends the host's run of failed requests (HostSucceeded).
	clear bool
}

// ackBuffer holds this node's Dones not yet sent to Redis: the next claim
// carries them, or the ack loop sends them ackDelay after the first (see
// Done). It counts the batches taken whose call has not ended, so that a
// caller can wait until every Done made before it was applied or failed
// (settleAcks, Close). Its lock guards its own fields only, and is never
// held across a call to Redis.
type ackBuffer struct {
	kick chan struct{} // holds a token when acks may wait for the ack loop
	done chan struct{} // closed when the ack loop ended

	mu      sync.Mutex
	waiting []pendingAck  // guarded by mu
	closing bool          // guarded by mu: Close took the last acks, later ones are dropped
	sending int           // guarded by mu: batches taken whose call has not ended
	idle    chan struct{} // guarded by mu: closed when sending falls to 0
}

func newAckBuffer() *ackBuffer {
	return &ackBuffer{kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// add buffers k, and asks the ack loop to send it if it is the first
// waiting. It reports false, dropping k, once Close took the last acks.
func (b *ackBuffer) add(k pendingAck) bool {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return false
	}
	b.waiting = append(b.waiting, k)
	first := len(b.waiting) == 1
	b.mu.Unlock()
	if first {
		b.wakeLoop()
	}
	return true
}

// wakeLoop asks the ack loop to send the acks waiting, ackDelay from now.
func (b *ackBuffer) wakeLoop() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// take takes up to ackBatch of the acks waiting to be sent. The caller
// must pass what it took to sent once the call carrying them ended.
func (b *ackBuffer) take() []pendingAck {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.waiting), ackBatch)
	if n == 0 {
		return nil
	}
	acks := append([]pendingAck(nil), b.waiting[:n]...)
	b.waiting = append(b.waiting[:0], b.waiting[n:]...)
	if len(b.waiting) > 0 {
		b.wakeLoop()
	}
	if b.sending++; b.sending == 1 {
		b.idle = make(chan struct{})
	}
	return acks
}

// sent ends the call that carried acks taken by take.
func (b *ackBuffer) sent(taken []pendingAck) {
	if len(taken) == 0 {
		return
	}
	b.mu.Lock()
	if b.sending--; b.sending == 0 {
		close(b.idle)
	}
	b.mu.Unlock()
}

// putBack makes acks whose call was cut short wait again for the next
// claim or flush, unless Close took the last acks.
func (b *ackBuffer) putBack(acks []pendingAck) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closing {
		b.waiting = append(b.waiting, acks...)
		b.wakeLoop()
	}
}

// waitIdle waits until the calls carrying acks taken before have ended, or
// ctx is done.
func (b *ackBuffer) waitIdle(ctx context.Context) {
	b.mu.Lock()
	idle, busy := b.idle, b.sending > 0
	b.mu.Unlock()
	if busy {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
}

// closed reports whether Close took the last acks.
func (b *ackBuffer) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closing
}

// close takes every ack waiting, for Close to send, and drops those added
// later: Close hands their leases back.
func (b *ackBuffer) close() []pendingAck {
	b.mu.Lock()
	defer b.mu.Unlock()
	acks := b.waiting
	b.waiting, b.closing = nil, true
	return acks
}

// len returns how many acks are waiting to be sent.
func (b *ackBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting)
}
