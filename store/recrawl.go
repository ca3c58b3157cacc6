package store

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/crawld/crawld/queue"
)

// revisitChunk is how many items Revisit writes per batch, so a large seen
// set does not build one huge batch.
const revisitChunk = 10_000

// Revisit starts a new round of the crawl (a recrawl), as
// queue.Memory.Revisit: every URL in the seen set is queued again, at the
// depth it was first added with, and the admission count restarts at the
// number of pages so queued. The seen set stays. It writes in batches of
// revisitChunk items; a crash in between leaves the round partly queued,
// which the next Revisit completes (at the cost of duplicates in the queue).
func (f *Frontier) Revisit(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixSeen), UpperBound: prefixEnd(prefixSeen)})
	if err != nil {
		return 0, fmt.Errorf("store: revisit: %w", err)
	}
	defer iter.Close()
	var (
		b       = f.db.NewBatch()
		pending []queue.Item
		queued  int
		pages   uint64
	)
	flush := func() error {
		f.setCounter(b, keyCount, pages)
		if err := f.commit(b); err != nil {
			return err
		}
		for _, it := range pending {
			f.enqueue(it)
		}
		queued += len(pending)
		pending, b = pending[:0], f.db.NewBatch()
		return nil
	}
	for iter.First(); iter.Valid(); iter.Next() {
		if err := ctx.Err(); err != nil {
			_ = b.Close()
			return queued, err
		}
		raw := string(iter.Key()[len(prefixSeen):])
		it, err := seenItem(raw, iter.Value())
		if err != nil {
			// A URL that no longer parses cannot be fetched anyway.
			f.log.Warn("store: revisit: URL left out", zap.Error(err))
			continue
		}
		if it.Kind == queue.KindPage {
			pages++
		}
		it.ID = f.next + uint64(len(pending))
		f.setQueued(b, it)
		pending = append(pending, it)
		if len(pending) == revisitChunk {
			if err := flush(); err != nil {
				return queued, fmt.Errorf("store: revisit: %w", err)
			}
		}
	}
	if err := iter.Error(); err != nil {
		_ = b.Close()
		return queued, fmt.Errorf("store: revisit: %w", err)
	}
	if err := flush(); err != nil {
		return queued, fmt.Errorf("store: revisit: %w", err)
	}
	_ = b.Close()
	f.count = pages
	return queued, nil
}
