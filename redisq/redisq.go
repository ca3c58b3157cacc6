package redisq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// ErrStateLost is wrapped by the errors of a Frontier whose crawl's state
// vanished from Redis while it ran.
var ErrStateLost = errors.New("redis: crawl state lost")

// ErrClosed is returned by the calls of a closed Frontier.
var ErrClosed = errors.New("redisq: frontier is closed")

// ErrUnavailable is wrapped, with the last Redis error, by the errors of
// calls that gave up after retrying for Options.RetryFor because Redis
// could not be reached (or was loading). The Frontier stays usable: a call
// made once Redis is back goes ahead.
var ErrUnavailable = errors.New("redis unavailable")

// Frontier is a crawl frontier held in Redis and shared by every node
// opened on the same crawl. It implements the crawler's Frontier interface
// and is safe for concurrent use. It runs two goroutines until Close: the
// heartbeat, and the loop that sends acks no claim carried.
type Frontier struct {
	rdb      redis.UniversalClient
	own      bool // rdb was built by Open, so Close closes it
	crawl    string
	node     string
	epoch    string
	prefix   string
	keys     []string // KEYS of every script (see scripts.go); never modified
	pol      []any    // ARGV[3:6]: T µs, burst, in-flight cap
	t        float64  // the configured interval, µs; 0 for an unlimited rate
	leaseUS  int64
	deadUS   int64
	beat     time.Duration
	retryFor time.Duration
	putKeep  int64 // µs a Put's token is kept
	warns    []string
	warn     func(string)
	log      *zap.Logger
	onClaim  func(queue.Item, int64)
	ackWait  time.Duration // how long a Done's ack waits for a claim to carry it

	robotsMem int64 // bytes the shared robots.txt outcomes may take
	maxDepth  int   // Options.MaxDepth: > 0 when the seen set keeps depths

	maxIV atomic.Int64 // the longest interval SetInterval set on this node, µs

	runMu   sync.Mutex
	runID   string              // the run id of the Redis process last seen
	runAt   time.Time           // when a reply last came from it
	pastRun map[string]struct{} // run ids seen before runID: a late reply from one is no restart

	// ctls are this node's latest SetInterval and Block (or Unblock) per
	// host of the last ctlKeep, to make again after a Redis rollback.
	ctlMu    sync.Mutex
	ctls     map[string]*hostCtl
	ctlPrune time.Time

	// wake is closed, and replaced, when this node queued or finished work,
	// so that sleeping Gets and Joins look again at once.
	wakeMu sync.Mutex
	wake   chan struct{}

	// turn holds at most one token asking one sleeping Get to claim again.
	// Waking one Get rather than all of them keeps a node's workers from
	// claiming in a herd, most of them for nothing, whenever a host's time
	// comes or an item is queued or finished; a Get that claims an item
	// passes the token on, so ready work still reaches every idle worker.
	turn     chan struct{}
	sleepMu  sync.Mutex
	sleepers int  // Gets asleep between claims
	timed    bool // one of them sleeps until the earliest host's time

	ctx       context.Context // done once Close (or kill) began
	stop      context.CancelFunc
	closeOnce sync.Once
	beatDone  chan struct{}
	noBeat    chan struct{} // closed by tests to stop the heartbeat alone

	lost  atomic.Bool
	stale atomic.Int64

	// held are the ids of the leases Get returned that Done or Finish
	// has not finished: the heartbeat renews them.
	heldMu sync.Mutex
	held   map[uint64]struct{}

	known *seenCache // URLs this node learnt are in the seen set; Add answers Duplicate for them without Redis

	failMu  sync.Mutex
	failure error // the first error a call without an error result could not report

	// clears holds the hosts HostSucceeded named whose run of failures the
	// next ack of an item of theirs ends in Redis.
	clearMu sync.Mutex
	clears  map[string]struct{}

	acks *ackBuffer // the Dones not yet sent to Redis, with their own lock

	snaps snapshots // what Stats and Snapshot serve, read by the heartbeat
}

// NodeID returns the node's id in the crawl.
func (f *Frontier) NodeID() string { return f.node }

// run runs script with the common KEYS and ARGV (see scripts.go) followed
// by args.
func (f *Frontier) run(ctx context.Context, script *redis.Script, args ...any) *redis.Cmd {
	keys, argv := f.call(args...)
	return script.Run(ctx, f.rdb, keys, argv...)
}

// call returns the KEYS and ARGV of a script call (see run).
func (f *Frontier) call(args ...any) ([]string, []any) {
	argv := make([]any, 0, 5+len(args))
	argv = append(argv, f.prefix, f.epoch)
	argv = append(argv, f.pol...)
	return f.keys, append(argv, args...)
}

// check turns the scripts' state-lost reply into ErrStateLost, and
// remembers it, for Err and so that every later call fails at once.
func (f *Frontier) check(err error) error {
	if err != nil && redis.HasErrorPrefix(err, "LOST") {
		lost := fmt.Errorf("redisq: crawl %s: %w", f.crawl, ErrStateLost)
		if !f.lost.Swap(true) {
			f.fail(lost) // once: the calls in flight meet it too
		}
		f.broadcast()
		return lost
	}
	return err
}

// usable returns why a call cannot go ahead: ctx done, the Frontier closed
// or its crawl lost.
func (f *Frontier) usable(ctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case f.lost.Load():
		return fmt.Errorf("redisq: crawl %s: %w", f.crawl, ErrStateLost)
	case f.ctx.Err() != nil:
		return ErrClosed
	}
	return nil
}

// fail records the first error a call without an error result met, for
// Err and Close, and logs each one when it happens, with fields saying
// what failed: the caller has no result to hear of it by.
func (f *Frontier) fail(err error, fields ...zap.Field) {
	f.log.Warn("redis call failed", append(fields, zap.Error(err))...)
	f.failMu.Lock()
	if f.failure == nil {
		f.failure = err
	}
	f.failMu.Unlock()
}

// Err returns the first error met by Done, SetInterval, Block or Unblock,
// which have no error result; nil if none. Once any call
// found the crawl's state vanished, it wraps ErrStateLost (unless an
// earlier error came first). It sends this node's acks left over first,
// so that it covers every Done made before it.
func (f *Frontier) Err() error {
	f.flushNow()
	f.failMu.Lock()
	defer f.failMu.Unlock()
	return f.failure
}

// Close stops the heartbeat, hands this node's leases (items Get returned
// and Done has not finished) back to the front of their hosts' lists for
// other nodes, removes the node from the crawl and, if Open built the
// client, closes it. Get, Join, Add, Put then fail with ErrClosed. It
// returns the first error Done met (see Err), or the hand-back's. The
// crawl's state stays in Redis for other nodes and later runs.
func (f *Frontier) Close() error {
	err := ErrClosed
	f.closeOnce.Do(func() {
		f.halt()
		ctx, cancel := context.WithTimeout(context.Background(), callLimit)
		defer cancel()
		// Claims cut short by the halt put the acks they carried back.
		f.acks.waitIdle(ctx)
		acks := f.acks.close()
		ackErr := error(nil)
		for len(acks) > 0 && ackErr == nil && !f.lost.Load() {
			n := min(len(acks), ackBatch)
			ackErr = f.sendAcks(ctx, acks[:n], false)
			acks = acks[n:]
		}
		f.failMu.Lock()
		err = f.failure
		f.failMu.Unlock()
		if ackErr != nil && err == nil {
			err = fmt.Errorf("redisq: close: send acks: %w", ackErr)
		}
		if !f.lost.Load() {
			if e := f.run(ctx, releaseScript, f.node).Err(); e != nil && err == nil {
				err = fmt.Errorf("redisq: close: hand back leases: %w", f.check(e))
			}
		}
		if f.own {
			if e := f.rdb.Close(); e != nil && err == nil {
				err = e
			}
		}
	})
	return err
}

// halt stops the calls in progress, the heartbeat and the ack loop, and
// waits for them to end.
func (f *Frontier) halt() {
	f.stop()
	<-f.beatDone
	<-f.acks.done
}

// kill stops the node as a crash would, for tests: no more heartbeats,
// leases left in Redis, the client closed if Open built it.
func (f *Frontier) kill() {
	f.closeOnce.Do(func() {
		f.halt()
		if f.own {
			_ = f.rdb.Close()
		}
	})
}
