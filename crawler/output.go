package crawler

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// How long a buffering sink (Flusher) may keep records while the crawl
// runs, and how much it may keep: a reader tailing the output sees a page
// within flushInterval of its record, and a crawl ended by kill -9 with a
// frontier that dies with it loses at most that much output, which the
// next crawl fetches again anyway.
const (
	flushInterval = 100 * time.Millisecond
	flushSize     = 64 << 10
)

// output takes records out of the crawler: to the sink, in an order that
// never lets a record reach a reader before the archive's records it
// names. A sink that buffers (Flusher) is flushed after the archive's
// Sync, under one lock; a sink that does not gets the archive's Sync
// before each record that names a WARC record.
type output struct {
	sink    Sink
	flusher Flusher // sink, when it buffers; else nil
	archive Archive // nil without WithArchive
	// eager flushes after each record: the frontier outlives the process
	// (durable, or shared), so an item must be done only once its record
	// has left it.
	eager bool

	mu sync.Mutex // held across a flush: the archive's Sync, then the sink's Flush
}

// write hands rec on, and makes it durable if the sink can (see Syncer):
// what must happen before the item of rec is done.
func (o *output) write(rec Record) error {
	if o.flusher == nil && o.archive != nil && rec.WARCFile != "" {
		if err := o.archive.Sync(); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	if err := o.sink.Write(rec); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if o.flusher != nil && (o.eager || o.flusher.Buffered() >= flushSize) {
		if err := o.flush(); err != nil {
			return err
		}
	}
	// Durable before the item is Done (see Syncer).
	if s, ok := o.sink.(Syncer); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	return nil
}

// flush hands on what a buffering sink holds, after the archive's Sync.
func (o *output) flush() error {
	if o.flusher == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.archive != nil {
		if err := o.archive.Sync(); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	if err := o.flusher.Flush(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// flushEvery flushes the sink every flushInterval until ctx ends; a failed
// flush ends it with the error, which ends the crawl.
func (o *output) flushEvery(ctx context.Context) error {
	if o.flusher == nil {
		return nil
	}
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := o.flush(); err != nil {
				return err
			}
		}
	}
}
