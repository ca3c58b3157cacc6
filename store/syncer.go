package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/crawld/crawld/internal/pebbleq"
)

// syncEvery is how often the background syncer fsyncs the log when
// something was written since the last sync.
const syncEvery = time.Second

// syncLoop fsyncs the log every period while anything was written, until
// Close stops it.
func (f *Frontier) syncLoop(every time.Duration) {
	defer close(f.synced)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stopSync:
			return
		case <-t.C:
			if err := f.writeClaims(); err != nil && !errors.Is(err, errClosed) {
				f.fail(err)
			}
			if !f.dirty.Swap(false) {
				continue
			}
			if err := f.fs.syncAll(); err != nil {
				f.dirty.Store(true)
				f.fail(fmt.Errorf("sync: %w", err))
			}
		}
	}
}

// fail logs a write failure that has no caller to report it to, and
// records the first, for Close.
func (f *Frontier) fail(err error) {
	f.log.Error("store: write failed", pebbleq.Err(err))
	f.failMu.Lock()
	defer f.failMu.Unlock()
	if f.failure == nil {
		f.failure = err
	}
}

// apply applies b, visible to reads at once, and has Pebble write its log
// record; f.mu is held. The wait it returns, called once f.mu is released,
// returns when the record is written (as commit does) and closes b. Taking
// the write out of f.mu lets the commits of concurrent calls share the log
// writer's write(2), rather than each wait for its own in turn while every
// other call waits for f.mu; Pebble writes the log in the order batches
// were applied, so a batch whose record is written has every batch it
// could have read from written before it.
func (f *Frontier) apply(b *pebble.Batch) (wait func() error, err error) {
	if err := f.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		_ = b.Close()
		return nil, err
	}
	f.writing.Add(1)
	return func() error {
		defer f.writing.Done()
		err := b.SyncWait()
		_ = b.Close()
		if err == nil {
			f.dirty.Store(true)
		}
		return err
	}, nil
}

// commit applies b and closes it; f.mu is held. pebble.Sync makes Pebble
// write the log record to the file before returning, and walFS defers the
// fsync to the syncer (see the package doc).
func (f *Frontier) commit(b *pebble.Batch) error {
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	if err == nil {
		f.dirty.Store(true)
	}
	return err
}
