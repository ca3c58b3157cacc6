package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/crawld/crawld/internal/seen"
	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// digests is the crawl's index of archived payloads (warc.Digests), kept
// in the store's database: a payload archived before a restart is a
// revisit after it. Claims are atomic within the process, the only one
// the store's lock lets open the database.
type digests struct{ f *Frontier }

// Digests returns the crawl's index of archived payloads, kept in the
// store's database, for the archive's deduplication (warc.Config.Digests):
// a payload archived before a restart is a revisit after it.
func (f *Frontier) Digests() warc.Digests { return digests{f} }

// Claim implements warc.Digests.
func (d digests) Claim(_ context.Context, c warc.Capture) (warc.Capture, bool, error) {
	key := append([]byte(prefixDigest), c.Digest...)
	d.f.digestMu.Lock()
	defer d.f.digestMu.Unlock()
	claimed, err := d.f.claimedDigests()
	if err != nil {
		return warc.Capture{}, false, wrapDigest("claim", c, err)
	}
	if claimed.Has(c.Digest) { // or a fingerprint's collision, or unclaimed since
		orig, found, err := d.f.getCapture(key)
		if err != nil || found {
			orig.Digest = c.Digest
			return warc.Capture(orig), found, wrapDigest("claim", c, err)
		}
	}
	entry := queue.Capture(c)
	entry.Digest = "" // the key
	if err := d.f.setCapture(key, &entry); err != nil {
		return warc.Capture{}, false, wrapDigest("claim", c, err)
	}
	claimed.Add(c.Digest)
	return warc.Capture{}, false, nil
}

// claimedDigests returns f.claimed, reading it from the database the
// first time. digestMu is held.
func (f *Frontier) claimedDigests() (*seen.Set, error) {
	if f.claimed != nil {
		return f.claimed, nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, errClosed
	}
	iter, err := f.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixDigest), UpperBound: prefixEnd(prefixDigest)})
	if err != nil {
		return nil, err
	}
	set := seen.New(0)
	for iter.First(); iter.Valid(); iter.Next() {
		set.Add(string(iter.Key()[len(prefixDigest):]))
	}
	if err := errors.Join(iter.Error(), iter.Close()); err != nil {
		return nil, err
	}
	f.claimed = set
	return set, nil
}

// Unclaim implements warc.Digests.
func (d digests) Unclaim(_ context.Context, c warc.Capture) error {
	key := append([]byte(prefixDigest), c.Digest...)
	d.f.digestMu.Lock()
	defer d.f.digestMu.Unlock()
	orig, found, err := d.f.getCapture(key)
	if err != nil || !found || orig.URI != c.URI || !orig.Date.Equal(c.Date) {
		return wrapDigest("unclaim", c, err)
	}
	return wrapDigest("unclaim", c, d.f.setCapture(key, nil))
}

func wrapDigest(op string, c warc.Capture, err error) error {
	if err != nil {
		return fmt.Errorf("store: %s digest %s: %w", op, c.Digest, err)
	}
	return nil
}
