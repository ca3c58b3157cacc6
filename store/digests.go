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
	f := d.f
	orig, found, decided, err := f.decideClaim(c, false)
	if !decided && err == nil {
		// Claimed before (or a fingerprint's collision, or unclaimed
		// since): the capture is on disk. It is read without digestMu,
		// since a claim being written is in f.claiming until it is.
		var stored queue.Capture
		stored, found, err = f.getCapture(append([]byte(prefixDigest), c.Digest...))
		orig = warc.Capture(stored)
		if err == nil && !found {
			orig, found, _, err = f.decideClaim(c, true)
		}
	}
	if found {
		orig.Digest = c.Digest
	}
	return orig, found, wrapDigest("claim", c, err)
}

// decideClaim decides c's claim under digestMu. A claim of its digest not
// yet written is found: orig is its capture. Else, unless the digest may
// be on disk and !force, c is claimed (kept in f.claiming until
// writeClaims writes it). Either is decided; !decided (without an error)
// means the digest may be on disk: the caller looks, and, not finding it,
// calls again with force.
func (f *Frontier) decideClaim(c warc.Capture, force bool) (orig warc.Capture, found, decided bool, err error) {
	f.digestMu.Lock()
	claimed, err := f.claimedDigests()
	if err != nil {
		f.digestMu.Unlock()
		return warc.Capture{}, false, false, err
	}
	if pending, ok := f.claiming[c.Digest]; ok {
		f.digestMu.Unlock()
		return warc.Capture(pending), true, true, nil
	}
	if claimed.Has(c.Digest) && !force {
		f.digestMu.Unlock()
		return warc.Capture{}, false, false, nil
	}
	entry := queue.Capture(c)
	entry.Digest = "" // the key
	if f.claiming == nil {
		f.claiming = make(map[string]queue.Capture)
	}
	f.claiming[c.Digest] = entry
	claimed.Add(c.Digest)
	full := len(f.claiming) >= maxUnwrittenClaims
	f.digestMu.Unlock()
	if full {
		err = f.writeClaims()
	}
	return warc.Capture{}, false, true, err
}

// maxUnwrittenClaims bounds the claims kept in memory between the
// syncer's writes of them: a second of pages at a high rate.
const maxUnwrittenClaims = 8192

// writeClaims writes the claims decided since it last ran, in one batch:
// the syncer calls it before each fsync, and Close before closing. A claim
// is not written as it is decided, which made every archived page a write
// of its own, under f.mu; a claim lost in a crash (a machine's, or a kill
// between its decision and the next write) costs only a payload stored
// twice, since its record was written either way (see warc.Digests).
func (f *Frontier) writeClaims() error {
	f.digestMu.Lock()
	defer f.digestMu.Unlock()
	if len(f.claiming) == 0 {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errClosed
	}
	b := f.db.NewBatch()
	for digest, c := range f.claiming {
		_ = b.Set(append([]byte(prefixDigest), digest...), appendCapture(nil, c), nil)
	}
	if err := f.commit(b); err != nil {
		return fmt.Errorf("store: write %d digest claims: %w", len(f.claiming), err)
	}
	clear(f.claiming)
	return nil
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
	if pending, ok := d.f.claiming[c.Digest]; ok {
		if pending.URI == c.URI && pending.Date.Equal(c.Date) {
			delete(d.f.claiming, c.Digest) // never written
		}
		return nil
	}
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
