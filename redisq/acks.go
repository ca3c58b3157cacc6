package redisq

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

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
// Stale, Finish and Close send the acks left over first, and so does the
// heartbeat before it reads what Stats serves.
func (f *Frontier) Done(it queue.Item) {
	if it.ID == 0 {
		panic("redisq: Done of an item Get did not return (ID 0), host " + it.Host)
	}
	f.unhold(it.ID)
	if !f.acks.add(pendingAck{id: it.ID, host: it.Host, url: it.URL, clear: f.takeClear(it.Host)}) {
		return // Close handed the lease back
	}
	// A sleeping Get claims at once: its claim carries the ack, and may
	// take the slot it frees.
	f.nudge()
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
		taken := f.acks.take()
		acks := taken
		last := len(acks) < ackBatch
		if last {
			acks = append(acks[:len(acks):len(acks)], own)
		}
		err := f.sendAcks(ctx, acks, last)
		f.acks.sent(taken)
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
				f.fail(err, zap.String("host", k.host), zap.String("what", "done"))
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
		f.acks.putBack(acks)
		return
	}
	f.fail(fmt.Errorf("redisq: done (%d leases, first %s lease %d): %w", len(acks), acks[0].url, acks[0].id, err), zap.String("what", "done"))
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
		acks := f.acks.take()
		err := f.sendAcks(ctx, acks, false)
		f.acks.sent(acks)
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
	f.acks.waitIdle(ctx)
}

// ackLoop sends the acks that no claim carried within ackDelay, until
// Close.
func (f *Frontier) ackLoop() {
	defer close(f.acks.done)
	t := time.NewTimer(f.ackWait)
	t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.acks.kick:
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
