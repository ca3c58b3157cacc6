package queue

import (
	"context"
	"errors"
	"io"
	"time"
)

// Revisit starts a new round of the crawl (a recrawl): every URL admitted
// so far is queued again, as a fresh item at the depth it was first admitted
// with, in the order it was first admitted, and the count behind
// Limits.Pages restarts at the number of pages so queued. The seen set
// stays, so a URL found again during the round is not queued twice. It
// returns how many items it queued.
// It needs Config.Revisitable. If the Overflow fails, Revisit stops there
// and returns how many it queued with the error.
func (m *Memory) Revisit(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.keepAll {
		return 0, errors.New("queue: Revisit needs Config.Revisitable")
	}
	m.counted = 0
	for i, s := range m.revisit {
		if err := m.put(Item{URL: s.url, Host: s.host, Depth: int(s.depth), Kind: s.kind}); err != nil {
			return i, err
		}
		if s.kind == KindPage {
			m.counted++
		}
	}
	return len(m.revisit), nil
}

// seenURL is what a new round needs to queue a seen URL again.
type seenURL struct {
	url   string
	host  string
	depth int32
	kind  Kind
}

// fetchMeta is what a conditional request needs of the last fetch of a
// URL, and the capture a 304 to it refers to (URI "" for the URL's own).
type fetchMeta struct {
	etag, lastModified string
	at                 time.Time
	capture            Capture
}

func fetchedMap(keep bool) map[string]fetchMeta {
	if !keep {
		return nil
	}
	return make(map[string]fetchMeta)
}

// Validators returns the metadata SaveValidators kept for url.
func (m *Memory) Validators(url string) (etag, lastModified string, fetchedAt time.Time, ok bool) {
	m.fetchedMu.Lock()
	defer m.fetchedMu.Unlock()
	v, ok := m.fetched[url]
	return v.etag, v.lastModified, v.at, ok
}

// SaveValidators keeps url's ETag, Last-Modified and fetch time, for the
// next round's conditional request, with Config.Revisitable; without, a
// crawl that is never revisited keeps nothing and it does nothing.
func (m *Memory) SaveValidators(url, etag, lastModified string, fetchedAt time.Time) error {
	m.fetchedMu.Lock()
	defer m.fetchedMu.Unlock()
	if m.fetched != nil {
		v := m.fetched[url]
		v.etag, v.lastModified, v.at = etag, lastModified, fetchedAt
		m.fetched[url] = v
	}
	return nil
}

// Close releases what the Memory holds outside memory: its Overflow, if
// that is an io.Closer (a scratch directory to remove).
func (m *Memory) Close() error {
	if c, ok := m.overflow.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
