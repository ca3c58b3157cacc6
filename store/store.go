package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/crawld/crawld/internal/pebbleq"
	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
)

// Key prefixes and counter keys; see the package doc.
const (
	prefixSeen  = "s/"
	prefixQueue = "q/"
	prefixValid = "v/"
	prefixStat  = "k/"
	prefixHost  = "h/"
	keyVersion  = "c/version"
	keyCount    = "c/count"
	keySeen     = "c/seen"
	keyNextV1   = "c/next" // schema version 1 only; see the package doc
)

var errClosed = errors.New("store: frontier is closed")

// checkHost refuses the hosts a queue key cannot hold (see the package doc).
func checkHost(host string) error {
	if err := pebbleq.CheckHost(host); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Frontier is a crawl frontier whose queue, seen set and admission count
// survive restarts and crashes. It implements the crawler's Frontier
// interface. Safe for concurrent use.
type Frontier struct {
	dir  string
	log  *zap.Logger
	db   *pebble.DB
	fs   *walFS
	lock *pebble.Lock
	mem  *queue.Memory
	ovf  *diskOverflow // mem's Overflow; nil without a MemoryLimit

	// mu serialises the calls that change the frontier's state (Add, Put,
	// Done, Revisit, Close): the seen check and the write that follows it
	// are one step, and ids are assigned in the order their items enter the
	// memory queue (diskOverflow relies on it). Stats and the validators
	// take it shared, to see closed. Get does not take it, so a Get never
	// waits for another call's disk write.
	mu       sync.RWMutex
	closed   bool
	next     uint64 // the next queue id; ids start at 1
	count    uint64 // the admission count behind queue.Limits.Pages
	seen     uint64 // the size of the seen set
	key, val []byte // scratch buffers for building keys and values; mu is held
	// hostPages caches the per-host counts behind queue.Limits.PagesPerHost
	// as committed (h/<host>), read from disk on a host's first capped
	// admission and kept while the Frontier is open: one entry per host
	// counted, as the crawl's hosts are. mu is held.
	hostPages map[string]uint64
	// digestMu makes a claim of a payload digest (Digests) one step.
	digestMu sync.Mutex
	// claiming holds the claims decided and not yet written, by digest
	// (see writeClaims); a claim of the same payload finds its capture
	// here. digestMu is held.
	claiming map[string]queue.Capture
	// claimed holds the fingerprints of the digests claimed (d/<digest>),
	// read from the database at the first claim; digestMu is held. A
	// payload seen for the first time, as most are, is then claimed
	// without looking it up on disk, which read a block of a table for
	// every page (a third of an archived page's cost on the throughput
	// benchmark with Pebble). 14 bytes a digest.
	claimed *seen.Set

	// handed holds the id and host of every item Get handed out and Done
	// has not finished, to catch misuse (see the package doc). It has its
	// own lock so that Get stays off mu.
	handedMu sync.Mutex
	handed   map[uint64]string

	// With queue.Config.Depths, each seen key's value keeps the URL's
	// smallest depth, lowered by Add (queue.Shallower) and applied by Get.
	// depthMu is held by Get across reading an item's depth and counting
	// it in inFlight, and by Add across lowering a depth, so that Add
	// knows whether an item of the URL was handed out at the old depth
	// (in flight, or Done: then a KindExpand item is queued).
	depths   bool
	depthMu  sync.Mutex
	inFlight map[string]int // URL → items of it handed out and not Done

	failMu  sync.Mutex
	failure error // the first write failure Done or the syncer could not report; returned by Close

	dirty atomic.Bool // written since the last fsync
	// writing counts the batches applied whose log record is not yet
	// known written (see apply); Close waits for them.
	writing  sync.WaitGroup
	stopSync chan struct{} // closed by Close to stop the syncer
	synced   chan struct{} // closed by the syncer when it has stopped
}

// Admit queues each of items in order unless its URL was added before
// (earlier in items included), its host has lim.PagesPerHost counted items
// (queue.OverHostLimit, checked first) or lim.Pages counted items were
// added (queue.OverLimit), as queue.Memory.Admit; it returns each item's
// admission. The counts behind both caps are kept on disk, so they go on
// where they stopped after a restart. The checks and the writes of the
// seen keys, queue entries and counters of the whole call are one batch,
// serialised with other calls, so concurrent Admits of one URL queue it
// once and a crash keeps all of the call or none of it. It fails, adding
// nothing, if an item has no host (or a NUL byte in it), ctx is done, the
// Frontier is closed or the write fails.
func (f *Frontier) Admit(ctx context.Context, items []queue.Item, lim queue.Limits) ([]queue.Admission, error) {
	for _, it := range items {
		if err := checkHost(it.Host); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, wait, err := f.admitAll(items, lim)
	if err != nil {
		return nil, err
	}
	if wait != nil {
		if err := wait(); err != nil {
			return nil, admitError(items, err)
		}
	}
	return out, nil
}

// admitError is the error of an Admit of items whose batch failed.
func admitError(items []queue.Item, err error) error {
	what := items[0].URL
	if len(items) > 1 {
		what = fmt.Sprintf("%d items", len(items))
	}
	return fmt.Errorf("store: add %s: %w", what, err)
}

// admitAll is Admit under f.mu: it decides and applies the call's batch,
// its items queued and counted in memory at once, and returns the wait
// for its log record (nil if nothing was written). A log that cannot be
// written leaves the database failed, as Pebble's own commits do.
func (f *Frontier) admitAll(items []queue.Item, lim queue.Limits) (out []queue.Admission, wait func() error, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, errClosed
	}
	if f.depths {
		// Held until the items are queued, so that a Get or Done cannot
		// change what shallower read of an item in flight.
		f.depthMu.Lock()
		defer f.depthMu.Unlock()
	}
	ad := admission{b: f.db.NewBatch(), count: f.count, seen: f.seen}
	out = make([]queue.Admission, len(items))
	for i, it := range items {
		a, err := f.admit(&ad, it, lim)
		if err != nil {
			_ = ad.b.Close()
			return nil, nil, fmt.Errorf("store: add %s: %w", it.URL, err)
		}
		out[i] = a
	}
	if ad.b.Empty() {
		_ = ad.b.Close()
		return out, nil, nil
	}
	if ad.seen != f.seen {
		f.setCounter(ad.b, keySeen, ad.seen)
	}
	if ad.count != f.count {
		f.setCounter(ad.b, keyCount, ad.count)
	}
	if wait, err = f.apply(ad.b); err != nil {
		return nil, nil, admitError(items, err)
	}
	f.count, f.seen = ad.count, ad.seen
	for host, n := range ad.hosts {
		f.hostPages[host] = n
	}
	for _, it := range ad.queued {
		f.enqueue(it)
	}
	return out, wait, nil
}

// Add is Admit of one item, counted toward limit as queue.Limits.Pages.
func (f *Frontier) Add(ctx context.Context, it queue.Item, limit int) (queue.Admission, error) {
	a, err := f.Admit(ctx, []queue.Item{it}, queue.Limits{Pages: limit})
	if err != nil {
		return queue.Duplicate, err
	}
	return a[0], nil
}

// admission is what an Admit call has decided so far, written to its batch
// but not yet committed.
type admission struct {
	b      *pebble.Batch
	count  uint64       // the admission count after the batch
	seen   uint64       // the size of the seen set after the batch
	queued []queue.Item // the items the batch queues, ids from f.next on
	// urls and hosts are what the batch writes for the items after:
	// each URL's seen value, each host's count. A map each, rather than
	// an indexed batch read back, which costs a skiplist insert per write.
	urls  map[string]seenValue
	hosts map[string]uint64
}

// admit decides the admission of it and writes it to ad's batch; f.mu is
// held.
func (f *Frontier) admit(ad *admission, it queue.Item, lim queue.Limits) (queue.Admission, error) {
	seenKey := append([]byte(prefixSeen), it.URL...)
	sv, known := ad.urls[it.URL]
	if !known {
		value, closer, err := f.db.Get(seenKey)
		switch {
		case err == nil:
			sv, known = decodeSeen(value), true
			_ = closer.Close()
		case !errors.Is(err, pebble.ErrNotFound):
			return queue.Duplicate, fmt.Errorf("check seen set: %w", err)
		}
	}
	if known {
		if f.depths && it.Kind == queue.KindPage && it.Depth < sv.depth {
			f.shallower(ad, it, seenKey, sv)
			return queue.Shallower, nil
		}
		return queue.Duplicate, nil
	}
	var hostCount uint64
	if lim.PagesPerHost > 0 {
		var err error
		if hostCount, err = f.hostCount(ad, it.Host); err != nil {
			return queue.Duplicate, err
		}
		if hostCount >= uint64(lim.PagesPerHost) {
			return queue.OverHostLimit, nil
		}
	}
	if lim.Pages > 0 {
		if ad.count >= uint64(lim.Pages) {
			return queue.OverLimit, nil
		}
		ad.count++
	}
	if lim.PagesPerHost > 0 {
		_ = ad.b.Set(append([]byte(prefixHost), it.Host...), binary.BigEndian.AppendUint64(nil, hostCount+1), nil)
		ad.setHost(it.Host, hostCount+1)
	}
	sv = seenValue{kind: it.Kind, depth: it.Depth}
	_ = ad.b.Set(seenKey, appendSeen(nil, sv, f.depths), nil)
	ad.setURL(it.URL, sv)
	ad.seen++
	f.queue(ad, it)
	return queue.Added, nil
}

// hostCount returns host's count behind queue.Limits.PagesPerHost as ad
// leaves it; f.mu is held.
func (f *Frontier) hostCount(ad *admission, host string) (uint64, error) {
	if n, ok := ad.hosts[host]; ok {
		return n, nil
	}
	if n, ok := f.hostPages[host]; ok {
		return n, nil
	}
	n, _, err := counter(f.db, append([]byte(prefixHost), host...))
	if err != nil {
		return 0, err
	}
	if f.hostPages == nil {
		f.hostPages = make(map[string]uint64)
	}
	f.hostPages[host] = n
	return n, nil
}

func (ad *admission) setURL(url string, sv seenValue) {
	if ad.urls == nil {
		ad.urls = make(map[string]seenValue)
	}
	ad.urls[url] = sv
}

func (ad *admission) setHost(host string, n uint64) {
	if ad.hosts == nil {
		ad.hosts = make(map[string]uint64)
	}
	ad.hosts[host] = n
}

// queue adds it to ad's batch under the next id; f.mu is held.
func (f *Frontier) queue(ad *admission, it queue.Item) {
	it.ID = f.next + uint64(len(ad.queued))
	f.setQueued(ad.b, it)
	ad.queued = append(ad.queued, it)
}

// shallower admits it, whose URL (seen key seenKey) is known (sv) at a
// greater depth, to ad's batch: the URL's depth is lowered and, if an item
// of the URL was handed out (in flight, or Done), a KindExpand item is
// queued at the new depth. f.mu and f.depthMu are held.
func (f *Frontier) shallower(ad *admission, it queue.Item, seenKey []byte, sv seenValue) {
	lowered := seenValue{kind: sv.kind, depth: it.Depth}
	_ = ad.b.Set(seenKey, appendSeen(nil, lowered, true), nil)
	ad.setURL(it.URL, lowered)
	if sv.handed || f.inFlight[it.URL] > 0 {
		it.Kind, it.Attempt = queue.KindExpand, 0
		f.queue(ad, it)
	}
}

// Put queues it again (a retry) whether or not its URL was added before, and
// counts one unfinished task. The item gets an entry and an ID of its own,
// replacing any ID it had, so Done of the original, if it is in flight,
// leaves this copy queued. It returns an error, and counts nothing, if
// it.Host is "" (or holds a NUL byte), ctx is already done, the Frontier is
// closed or the write fails.
func (f *Frontier) Put(ctx context.Context, it queue.Item) error {
	if err := checkHost(it.Host); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errClosed
	}
	b := f.db.NewBatch()
	it.ID = f.next
	f.setQueued(b, it)
	wait, err := f.apply(b)
	if err == nil {
		f.enqueue(it)
	}
	f.mu.Unlock()
	if err == nil {
		err = wait()
	}
	if err != nil {
		return fmt.Errorf("store: put %s: %w", it.URL, err)
	}
	return nil
}

// setQueued adds the queue entry of it, under it.ID, to b; f.mu is held.
func (f *Frontier) setQueued(b *pebble.Batch, it queue.Item) {
	f.key = appendQueueKey(f.key[:0], it.Host, it.ID)
	f.val = pebbleq.AppendItem(f.val[:0], it)
	_ = b.Set(f.key, f.val, nil)
}

// setCounter adds a counter's new value to b; f.mu is held.
func (f *Frontier) setCounter(b *pebble.Batch, key string, n uint64) {
	f.key = append(f.key[:0], key...)
	f.val = binary.BigEndian.AppendUint64(f.val[:0], n)
	_ = b.Set(f.key, f.val, nil)
}

// enqueue puts it, just written under id f.next, in the memory queue; f.mu is
// held, so ids reach the memory queue in the order they were assigned. The
// memory queue cannot refuse it: the host and ctx were checked, ctx is not
// passed on, and diskOverflow.Spill never fails, so that an item on disk is
// always in memory (or counted as spilled) too.
func (f *Frontier) enqueue(it queue.Item) {
	if it.ID != f.next {
		panic(fmt.Sprintf("store: internal error: item %s queued with id %d, next id %d", it.URL, it.ID, f.next))
	}
	f.next++
	if err := f.mem.Put(context.Background(), it); err != nil {
		f.log.Error("store: internal error: the memory queue refused an item queued on disk", zap.String("url", it.URL), zap.Error(err))
	}
}

// Get blocks until some host may be fetched now, then hands out the oldest
// item of the host that became ready first (see queue.Memory.Get), with its
// ID set. The caller must call Done with the item's Host and ID unchanged
// when it has finished with it; until then the item stays queued on disk. If
// ctx is done, Get returns ctx.Err() and no item. With a MemoryLimit, Get
// also fails if the host's next items had to be read back from disk and
// could not be (after Close, for one). With queue.Config.Depths the item's
// Depth is its URL's smallest known (a read of its seen key).
func (f *Frontier) Get(ctx context.Context) (queue.Item, error) {
	it, err := f.mem.Get(ctx)
	if err != nil {
		return queue.Item{}, err
	}
	if it.ID == 0 {
		panic("store: internal error: item from the memory queue has no id: " + it.URL)
	}
	if f.depths && it.Kind != queue.KindSitemap {
		f.depthMu.Lock()
		f.inFlight[it.URL]++
		if sv, ok := f.readSeen(it.URL); ok {
			// Unreadable, the item keeps its depth: the worst is a
			// depth found since not applied.
			it.Depth = min(it.Depth, sv.depth)
		}
		f.depthMu.Unlock()
	}
	f.handedMu.Lock()
	f.handed[it.ID] = it.Host
	f.handedMu.Unlock()
	return it, nil
}

// Done marks an item returned by Get as finished: its entry is deleted from
// disk, so it is not fetched again after a restart, and its task is finished
// in the memory queue, releasing Join when none remain. Only it.Host and
// it.ID are read; they must be those of an item Get returned and Done was
// not yet called for, and Done panics otherwise. If the delete cannot be
// written the item stays on disk (it would be fetched again after a
// restart) and Close reports the error.
func (f *Frontier) Done(it queue.Item) {
	f.unhand(it, "Done")
	f.mu.Lock()
	var wait func() error
	if !f.closed {
		b := f.db.NewBatch()
		f.key = appendQueueKey(f.key[:0], it.Host, it.ID)
		_ = b.Delete(f.key, nil)
		if f.depths && it.Kind != queue.KindSitemap {
			f.doneAtDepth(b, it.URL)
		}
		var err error
		if wait, err = f.apply(b); err != nil {
			f.fail(fmt.Errorf("done %s: %w", it.URL, err))
		}
	}
	f.mu.Unlock()
	if wait != nil {
		if err := wait(); err != nil {
			f.fail(fmt.Errorf("done %s: %w", it.URL, err))
		}
	}
	f.mem.Done(it)
}

// doneAtDepth counts an item of url out of inFlight and adds to b the
// URL's seen value marked handed, so that a smaller depth found later
// queues a KindExpand item; f.mu is held, which keeps Add out until b is
// written.
func (f *Frontier) doneAtDepth(b *pebble.Batch, url string) {
	f.depthMu.Lock()
	if f.inFlight[url]--; f.inFlight[url] <= 0 {
		delete(f.inFlight, url)
	}
	f.depthMu.Unlock()
	sv, ok := f.readSeen(url)
	if !ok {
		return // not seen (Put without Add): nothing to mark
	}
	sv.handed = true
	_ = b.Set(append([]byte(prefixSeen), url...), appendSeen(nil, sv, true), nil)
}

// readSeen reads url's seen value; ok is false if url is not in the seen
// set or its value cannot be read. The callers go on without it, so a
// failed read is logged here.
func (f *Frontier) readSeen(url string) (sv seenValue, ok bool) {
	value, closer, err := f.db.Get(append([]byte(prefixSeen), url...))
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) {
			f.log.Warn("store: cannot read a URL's depth", zap.String("url", url), pebbleq.Err(err))
		}
		return seenValue{}, false
	}
	defer closer.Close()
	return decodeSeen(value), true
}

// Release gives back an item returned by Get without finishing it, for an
// item whose outcome could not be recorded (or that the crawl stopped
// before): its entry stays on disk, so a restart fetches it again, and it is
// its host's oldest queued item in memory again, under the same ID (see
// queue.Memory.Release). It writes nothing. The item must be one Get
// returned, unchanged, that neither Done nor Release was called for;
// Release panics otherwise.
func (f *Frontier) Release(it queue.Item) {
	f.unhand(it, "Release")
	if f.depths && it.Kind != queue.KindSitemap {
		f.depthMu.Lock()
		if f.inFlight[it.URL]--; f.inFlight[it.URL] <= 0 {
			delete(f.inFlight, it.URL)
		}
		f.depthMu.Unlock()
	}
	f.mem.Release(it)
}

// unhand takes it off the items handed out, panicking, as op, if Get did
// not hand it out or it was settled already.
func (f *Frontier) unhand(it queue.Item, op string) {
	f.handedMu.Lock()
	host, ok := f.handed[it.ID]
	ok = ok && host == it.Host
	if ok {
		delete(f.handed, it.ID)
	}
	f.handedMu.Unlock()
	if !ok {
		panic(fmt.Sprintf("store: %s of an item not handed out by Get (or Done or Released already): id %d, %s", op, it.ID, it.URL))
	}
}

// Join blocks until every item queued so far — including those loaded by
// Open — has been marked Done, returning nil at once if none is unfinished,
// or until ctx is done, returning ctx.Err().
func (f *Frontier) Join(ctx context.Context) error { return f.mem.Join(ctx) }

// SetInterval sets the minimum time between the starts of two requests to
// host (see queue.Memory.SetInterval). It is not persisted: robots.txt is
// read again after a restart.
func (f *Frontier) SetInterval(ctx context.Context, host string, d time.Duration) {
	f.mem.SetInterval(ctx, host, d)
}

// Block makes Get hand out no item of host before until (see
// queue.Memory.Block). It is not persisted.
func (f *Frontier) Block(ctx context.Context, host string, until time.Time) {
	f.mem.Block(ctx, host, until)
}

// Unblock lifts any block on host at once (see queue.Memory.Unblock).
func (f *Frontier) Unblock(ctx context.Context, host string) { f.mem.Unblock(ctx, host) }

// Holds reports whether the frontier holds state for host (see
// queue.Memory.Holds); a host with items on disk only is held too.
func (f *Frontier) Holds(host string) bool { return f.mem.Holds(host) }

// Reconfigure changes every host's politeness, as queue.Memory.Reconfigure.
func (f *Frontier) Reconfigure(cfg queue.Config) { f.mem.Reconfigure(cfg) }

// Stats returns the memory queue's stats, with Seen the size of the
// persisted seen set (distinct URLs admitted so far, over
// all runs). With a MemoryLimit, Spilled counts the queued items that are
// on disk only, and MemoryBytes is the memory queue's estimate of what the
// others take.
func (f *Frontier) Stats() queue.Stats {
	s := f.mem.Stats()
	f.mu.RLock()
	s.Seen = int(f.seen)
	f.mu.RUnlock()
	return s
}
