package store

import (
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
