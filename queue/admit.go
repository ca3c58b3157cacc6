package queue

import (
	"context"

	"github.com/crawld/crawld/internal/seen"
)

// Admission says what Admit did with an item.
type Admission uint8

const (
	Added     Admission = iota // queued
	Duplicate                  // an item with the same URL was added before
	OverLimit                  // the item counts toward Limits.Pages, which is reached
	// OverHostLimit: the item's host has all the items Limits.PagesPerHost
	// allows.
	OverHostLimit
	// Shallower: the URL was added before at a greater depth, and its
	// depth is now the item's (with Config.Depths). If an item of the URL
	// is still queued, it is handed out at that depth; if not (it was
	// handed out already), a KindExpand item is queued at that depth, so
	// that its links are followed from there. Neither counts toward a
	// limit: the page was admitted once.
	Shallower
)

// Limits are the crawl's caps on admission, which every frontier applies
// itself, so that they hold for the crawl however it is stored: across a
// restart of a durable frontier, and across the nodes sharing one.
type Limits struct {
	// Pages is the most items admitted in all (max_pages). With Pages > 0
	// each item admitted counts toward it; 0 or less means items neither
	// count nor are capped.
	Pages int
	// PagesPerHost is the most items admitted per host
	// (max_pages_per_host), counted and capped as Pages is.
	PagesPerHost int
}

// Admit queues each of items in order unless its URL was added before
// (earlier in items included), its host has PagesPerHost counted items
// (OverHostLimit, checked first), or Pages counted items were added
// (OverLimit); it returns each item's admission. The checks and the
// queueing happen under one lock, so concurrent Admits of one URL queue
// it once and the caps are never overshot. The per-host counts are kept
// for the life of the Memory, one entry per host an item with a
// PagesPerHost counted for. An error is Put's (the Overflow failed): the
// items before the failing one are admitted.
func (m *Memory) Admit(ctx context.Context, items []Item, lim Limits) ([]Admission, error) {
	for _, it := range items {
		if it.Host == "" {
			return nil, errNoHost
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Admission, len(items))
	for i, it := range items {
		a, err := m.admit(it, lim)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// Add is Admit of one item, counted toward limit as Limits.Pages.
func (m *Memory) Add(ctx context.Context, it Item, limit int) (Admission, error) {
	a, err := m.Admit(ctx, []Item{it}, Limits{Pages: limit})
	if err != nil {
		return Duplicate, err
	}
	return a[0], nil
}

// admit is Admit of one item; m.mu is held.
func (m *Memory) admit(it Item, lim Limits) (Admission, error) {
	fp := seen.Fingerprint(it.URL)
	if m.depths {
		if v, ok := m.seen.Value(fp); ok {
			return m.shallower(it, fp, v)
		}
	} else if m.seen.HasFingerprint(fp) {
		return Duplicate, nil
	}
	if lim.PagesPerHost > 0 && m.hostPages[it.Host] >= lim.PagesPerHost {
		return OverHostLimit, nil
	}
	if lim.Pages > 0 && m.counted >= lim.Pages {
		return OverLimit, nil
	}
	if err := m.put(it); err != nil {
		return Duplicate, err
	}
	if lim.Pages > 0 {
		m.counted++
	}
	if lim.PagesPerHost > 0 {
		if m.hostPages == nil {
			m.hostPages = make(map[string]int)
		}
		m.hostPages[it.Host]++
	}
	m.seen.SetValue(fp, depthValue(it.Depth, false))
	if m.keepAll {
		m.revisit = append(m.revisit, seenURL{url: it.URL, host: it.Host, depth: int32(it.Depth), kind: it.Kind})
	}
	return Added, nil
}

// With Config.Depths, the seen set keeps a byte per URL: the smallest depth
// found (saturated at depthMax, so deeper pages are never lowered to each
// other's depths, which no max_depth that large would tell apart), and a
// bit saying that no item of the URL is queued since one was handed out.
const (
	depthMax    = 0x7f
	depthHanded = 0x80
)

func depthValue(depth int, handed bool) uint8 {
	v := uint8(min(max(depth, 0), depthMax))
	if handed {
		v |= depthHanded
	}
	return v
}

// shallower is admit of it, whose URL (fingerprint fp) is known with seen
// value v; m.mu is held.
func (m *Memory) shallower(it Item, fp uint64, v uint8) (Admission, error) {
	depth := depthValue(it.Depth, false)
	if it.Kind != KindPage || depth >= v&depthMax {
		return Duplicate, nil
	}
	if v&depthHanded != 0 {
		// Every item of the URL was handed out at a greater depth: fetch
		// it again for its links.
		it.Kind, it.Attempt = KindExpand, 0
		if err := m.put(it); err != nil {
			return Duplicate, err
		}
	}
	m.seen.SetValue(fp, depth)
	return Shallower, nil
}

// handOut lowers the depth of it, about to be handed out, to its URL's
// smallest known, and notes that it was handed out; m.mu is held.
func (m *Memory) handOut(it *Item) {
	if !m.depths || it.Kind == KindSitemap {
		return
	}
	fp := seen.Fingerprint(it.URL)
	v, ok := m.seen.Value(fp)
	if !ok {
		return
	}
	if d := int(v & depthMax); d < it.Depth {
		it.Depth = d
	}
	m.seen.SetValue(fp, v|depthHanded)
}

// requeued notes that an item of it's URL is queued again (a retry), so
// that a smaller depth found meanwhile reaches it; m.mu is held.
func (m *Memory) requeued(it Item) {
	if !m.depths || it.Kind == KindSitemap {
		return
	}
	fp := seen.Fingerprint(it.URL)
	if v, ok := m.seen.Value(fp); ok && v&depthHanded != 0 {
		m.seen.SetValue(fp, v&^depthHanded)
	}
}
