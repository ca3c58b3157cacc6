package redisq

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

// Add queues it unless its URL was added before by any node, or, with
// limit > 0, once limit counted items were added by all nodes together
// (one shared budget). The check and the queueing are one script, so
// concurrent Adds of one URL, on any nodes, queue it once. The seen set
// holds 64-bit fingerprints: two URLs colliding (about n²/2⁶⁵ for n URLs)
// makes the second a Duplicate. It fails if it.Host is "" or contains a
// newline. A transient Redis error is retried; if an earlier try had taken
// effect, the item is reported Duplicate.
//
// With Options.MaxDepth, the seen set keeps each URL's smallest depth, as
// queue.Memory does with Config.Depths: Admit of a page whose URL was added
// at a greater depth lowers it and returns queue.Shallower, counting
// toward no limit. If an item of the URL is still queued, Get hands it out
// at the smaller depth; if every item was handed out already (a retry or
// a lease handed back queues it again), a queue.KindExpand item is queued
// at that depth, for the page's links. The depth lives in the low bits
// of the URL's seen member, so it costs Redis no memory, but then 57 bits
// of the fingerprint tell URLs apart (see memberDepth), and each Add
// looks for 2 × (MaxDepth + 1) members. This node's cache of seen URLs
// keeps depths too, and sends Redis a URL found at a smaller depth than
// it knows.
func (f *Frontier) Add(ctx context.Context, it queue.Item, limit int) (queue.Admission, error) {
	a, err := f.Admit(ctx, []queue.Item{it}, queue.Limits{Pages: limit})
	if err != nil {
		return queue.Duplicate, err
	}
	return a[0], nil
}

// Admit is Add for each of items in order, in as few Redis calls as it
// takes (one per addBatchMax items; none for URLs this node knows are
// seen), returning each item's admission; an item whose URL came earlier
// in items is a Duplicate. With lim.PagesPerHost > 0 an item is also
// refused with queue.OverHostLimit once that many items of its host were
// added with a PagesPerHost, by all nodes together (max_pages_per_host
// shared like the budget); the host's count is checked after the seen set
// and before the budget, in the same script. It fails, adding nothing, if an item has no
// host or a newline in it. A transient Redis error is retried; items an
// earlier try had added are reported Duplicate. On error, the items of
// earlier calls may have been added.
func (f *Frontier) Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error) {
	out := make([]queue.Admission, len(items))
	type sent struct {
		i  int
		fp uint64
	}
	var todo []sent
	var args []any
	for _, it := range items {
		if err := checkHost(it); err != nil {
			return nil, err
		}
	}
	for i, it := range items {
		fp := seen.Fingerprint(it.URL)
		if f.maxDepth > 0 {
			// A URL known at a greater depth goes to Redis, which may
			// lower it (Shallower).
			if d, ok := f.known.depth(fp); ok && (it.Kind != queue.KindPage || it.Depth >= d) {
				out[i] = queue.Duplicate
				continue
			}
			todo = append(todo, sent{i, fp})
			args = append(args, f.depthArgs(it, fp)...)
			continue
		}
		if f.known.has(fp) {
			out[i] = queue.Duplicate
			continue
		}
		todo = append(todo, sent{i, fp})
		args = append(args, addArgs(it.Host, encode(it), fp)...)
	}
	if err := f.usable(ctx); err != nil {
		return nil, err
	}
	added := false
	for len(todo) > 0 {
		n := min(len(todo), addBatchMax)
		gen := f.known.generation()
		var res []any
		err := f.retry(ctx, transient, func() error {
			var err error
			res, err = f.run(ctx, addScript, append([]any{max(lim.Pages, 0), max(lim.PagesPerHost, 0)}, args[:4*n]...)...).Slice()
			return err
		})
		if err == nil && len(res) != n {
			err = fmt.Errorf("%d admissions for %d items", len(res), n)
		}
		if err != nil {
			if added {
				f.broadcast()
			}
			what := fmt.Sprintf("%d items", len(items))
			if len(items) == 1 {
				what = items[0].URL
			}
			return nil, fmt.Errorf("redisq: add %s: %w", what, err)
		}
		for j, r := range res {
			a, _ := r.(int64)
			out[todo[j].i] = queue.Admission(a)
			switch queue.Admission(a) {
			case queue.Added, queue.Shallower:
				added = true
				f.cacheSeen(gen, todo[j].fp, items[todo[j].i])
			case queue.Duplicate:
				f.cacheSeen(gen, todo[j].fp, items[todo[j].i])
			}
		}
		todo, args = todo[n:], args[4*n:]
	}
	if added {
		f.broadcast()
	}
	return out, nil
}

// addArgs are the add script's four arguments for an item of host with
// record rec and URL fingerprint fp.
func addArgs(host string, rec []byte, fp uint64) []any {
	return []any{host, rec, fp & memberMask, fp >> 48}
}

// memberMask keeps the low 48 bits of a fingerprint: the member of its
// bucket, which the top 16 bits name.
const memberMask = 1<<48 - 1

// With Options.MaxDepth, a seen member's low 7 bits are not the
// fingerprint's: the low 6 are the URL's smallest depth found (at most
// MaxDepthKept), and memberHanded is set while no item of the URL is
// queued since one was handed out (as queue.Memory keeps them), which
// tells Admit of a smaller depth whether the page must be fetched again
// for its links (an expand item) or will be fetched at that depth. The
// member stays an integer below 2^48, 8 bytes in an intset, and 57 bits
// of the fingerprint (16 + 41) tell URLs apart: two of 10 million
// collide with odds about n²/2^58 ≈ 3.5e-4.
const (
	memberDepth  = 1<<6 - 1
	memberHanded = 1 << 6
	memberLow    = 1<<7 - 1
)

// depthArgs are the add script's four arguments for it, with URL
// fingerprint fp, in a crawl that keeps depths: its record carries fp (see
// record), and its member, not handed out, its depth.
func (f *Frontier) depthArgs(it queue.Item, fp uint64) []any {
	member := fp&memberMask&^memberLow | uint64(min(max(it.Depth, 0), f.maxDepth))
	return []any{it.Host, f.record(it, fp), member, fp >> 48}
}

// cacheSeen caches what an add call sent at cache generation gen
// answered for it (added, or a duplicate, or lowered): its URL (with
// fingerprint fp) is seen, with depths at it.Depth or less if it is a
// page.
func (f *Frontier) cacheSeen(gen, fp uint64, it queue.Item) {
	if f.maxDepth == 0 {
		f.known.addIf(gen, fp)
		return
	}
	d := unknownDepth
	if it.Kind == queue.KindPage {
		d = it.Depth
	}
	f.known.addAt(gen, fp, d)
}

// record encodes it for Redis: with depths, as a version 3 record
// carrying its URL's fingerprint fp, which the scripts read to find the
// URL's seen member (see encode).
func (f *Frontier) record(it queue.Item, fp uint64) []byte {
	if f.maxDepth == 0 {
		return encode(it)
	}
	rec := encode(it)
	b := make([]byte, 0, 9+len(rec))
	b = append(b, recVersionFP)
	b = binary.BigEndian.AppendUint64(b, fp)
	return append(b, rec...)
}

// Put appends it to its host's list and counts one unfinished task in the
// cluster, whether or not its URL was added before (a retry puts an item
// back); it.ID is ignored. A transient Redis error is retried: a random
// token, kept in Redis for 10 minutes (or twice RetryFor), makes a repeat
// of a Put that had taken effect a no-op, so the item is queued once. On
// error nothing was counted, unless the error is ErrUnavailable's or
// ctx's after a try whose reply was lost (the item may then be queued).
func (f *Frontier) Put(ctx context.Context, it queue.Item) error {
	rec, err := f.encodeChecked(it)
	if err != nil {
		return err
	}
	if err := f.usable(ctx); err != nil {
		return err
	}
	token := randomToken()
	err = f.retry(ctx, transient, func() error {
		return f.run(ctx, putScript, it.Host, rec, token, f.putKeep).Err()
	})
	if err != nil {
		return fmt.Errorf("redisq: put %s: %w", it.URL, err)
	}
	f.broadcast()
	return nil
}

// randomToken returns 96 random bits in hex, a Put's token.
func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (f *Frontier) encodeChecked(it queue.Item) ([]byte, error) {
	if err := checkHost(it); err != nil {
		return nil, err
	}
	if f.maxDepth > 0 {
		return f.record(it, seen.Fingerprint(it.URL)), nil
	}
	return encode(it), nil
}

// checkHost refuses an item without a host, or whose host would break the
// records' newline-separated fields.
func checkHost(it queue.Item) error {
	if it.Host == "" {
		return errors.New("redisq: item has no host")
	}
	if strings.IndexByte(it.Host, '\n') >= 0 {
		return fmt.Errorf("redisq: item host %q contains a newline", it.Host)
	}
	return nil
}
