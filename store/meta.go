package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/crawld/crawld/internal/pebbleq"
	"go.uber.org/zap"
)

// Validators returns the HTTP cache validators stored for url by
// SaveValidators; ok is false if none are stored (or the Frontier is closed,
// or they cannot be read).
func (f *Frontier) Validators(url string) (etag, lastModified string, fetchedAt time.Time, ok bool) {
	ok, err := f.getValue(append([]byte(prefixValid), url...), func(v []byte) (err error) {
		etag, lastModified, fetchedAt, err = decodeValidators(v)
		return err
	})
	if err != nil {
		f.log.Warn("store: cannot read validators; fetching unconditionally", zap.String("url", url), pebbleq.Err(err))
		return "", "", time.Time{}, false
	}
	return etag, lastModified, fetchedAt, ok
}

// SaveValidators stores url's ETag, Last-Modified and the time it was last
// fetched, for conditional requests in a recrawl. A zero fetchedAt with
// empty validators deletes the entry.
func (f *Frontier) SaveValidators(url, etag, lastModified string, fetchedAt time.Time) error {
	var v []byte // nil deletes
	if etag != "" || lastModified != "" || !fetchedAt.IsZero() {
		v = appendValidators(nil, etag, lastModified, fetchedAt)
	}
	if err := f.setValue(append([]byte(prefixValid), url...), v, pebble.Sync); err != nil {
		return fmt.Errorf("store: save validators of %s: %w", url, err)
	}
	return nil
}

// getValue calls decode with key's value; ok is false if key has none, or
// the Frontier is closed. A value decode refuses is an error saying so.
func (f *Frontier) getValue(key []byte, decode func([]byte) error) (ok bool, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return false, nil
	}
	v, closer, err := f.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := decode(v); err != nil {
		return false, fmt.Errorf("malformed value: %w", err)
	}
	return true, nil
}

// setValue writes v at key, or deletes key if v is nil, with opts
// (pebble.Sync: as durably as every commit, see the package doc).
func (f *Frontier) setValue(key, v []byte, opts *pebble.WriteOptions) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	var err error
	if v == nil {
		err = f.db.Delete(key, opts)
	} else {
		err = f.db.Set(key, v, opts)
	}
	if err != nil {
		return err
	}
	f.dirty.Store(true)
	return nil
}

// Counters returns the counters last saved by SaveCounters.
func (f *Frontier) Counters() (map[string]int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, errClosed
	}
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixStat), UpperBound: prefixEnd(prefixStat)})
	if err != nil {
		return nil, fmt.Errorf("store: counters: %w", err)
	}
	defer iter.Close()
	counters := make(map[string]int64)
	for iter.First(); iter.Valid(); iter.Next() {
		name := string(iter.Key()[len(prefixStat):])
		n, k := binary.Varint(iter.Value())
		if k <= 0 {
			f.log.Warn("store: malformed counter left out", zap.String("counter", name))
			continue
		}
		counters[name] = n
	}
	return counters, iter.Error()
}

// SaveCounters stores the crawl's counters, replacing those of the same
// names, in one batch.
func (f *Frontier) SaveCounters(counters map[string]int64) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	b := f.db.NewBatch()
	for name, n := range counters {
		_ = b.Set(append([]byte(prefixStat), name...), binary.AppendVarint(nil, n), nil)
	}
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	if err != nil {
		return fmt.Errorf("store: save counters: %w", err)
	}
	f.dirty.Store(true)
	return nil
}
