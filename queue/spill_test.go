package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// sliceOverflow is an Overflow kept in per-host slices. It checks Memory's
// side of the contract: never more items asked of a host than it holds.
type sliceOverflow struct {
	mu        sync.Mutex
	hosts     map[string][]Item
	failSpill error // returned by Spill while set
	failTake  error // returned by Unspill while set
	spills    int
	unspills  int
}

func newSliceOverflow() *sliceOverflow { return &sliceOverflow{hosts: map[string][]Item{}} }

func (o *sliceOverflow) Spill(it Item) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failSpill != nil {
		return o.failSpill
	}
	o.hosts[it.Host] = append(o.hosts[it.Host], it)
	o.spills++
	return nil
}

func (o *sliceOverflow) Unspill(host string, n int) ([]Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failTake != nil {
		return nil, o.failTake
	}
	held := o.hosts[host]
	if n < 1 || n > len(held) {
		return nil, fmt.Errorf("asked for %d items of %s, %d held", n, host, len(held))
	}
	o.hosts[host] = held[n:]
	o.unspills++
	return slices.Clone(held[:n]), nil
}

func (o *sliceOverflow) held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, its := range o.hosts {
		n += len(its)
	}
	return n
}

// TestSpillKeepsHostOrder queues far more than the limit across hosts,
// interleaving Puts with Gets, and checks that every item comes out once, in
// its host's order, with memory held near the limit.
func TestSpillKeepsHostOrder(t *testing.T) {
	const hosts, perHost, limit = 5, 2000, 16 << 10
	o := newSliceOverflow()
	m := NewMemory(Config{MemoryLimit: limit, Overflow: o, PerHostConcurrency: 1})
	ctx := context.Background()
	next := make(map[string]int)
	var maxBytes int64
	check := func() {
		s := m.Stats()
		maxBytes = max(maxBytes, s.MemoryBytes)
		if s.Spilled != o.held() {
			t.Fatalf("Stats.Spilled = %d, overflow holds %d", s.Spilled, o.held())
		}
	}
	take := func() {
		it := get(t, m)
		var i int
		if _, err := fmt.Sscanf(it.URL[len(it.Host)+1:], "%d", &i); err != nil {
			t.Fatalf("URL %q: %v", it.URL, err)
		}
		if i != next[it.Host] {
			t.Fatalf("%s: got item %d, want %d (host order broken)", it.Host, i, next[it.Host])
		}
		next[it.Host]++
		m.Done(it)
		check()
	}
	for i := range perHost {
		for h := range hosts {
			host := fmt.Sprintf("h%d", h)
			if err := m.Put(ctx, Item{URL: fmt.Sprintf("%s/%d", host, i), Host: host}); err != nil {
				t.Fatal(err)
			}
			check()
		}
		if i%3 == 0 {
			take()
		}
	}
	if peak := m.Stats().Spilled; peak == 0 {
		t.Fatal("nothing spilled")
	}
	for m.Stats().Queued > 0 {
		take()
	}
	for h := range hosts {
		if got := next[fmt.Sprintf("h%d", h)]; got != perHost {
			t.Errorf("h%d: %d items out, want %d", h, got, perHost)
		}
	}
	// The limit is checked before each item is kept in memory, and only a
	// host with nothing in memory takes items back — one at a time once past
	// half the limit — so memory exceeds it by at most one batch of
	// unspillBatch items.
	slack := int64(unspillBatch) * itemBytes(Item{URL: "h0/2000", Host: "h0"})
	if maxBytes > limit+slack {
		t.Errorf("MemoryBytes peaked at %d, want ≤ %d + %d", maxBytes, limit, slack)
	}
	if err := m.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s != (Stats{}) {
		t.Errorf("final Stats = %+v, want zero", s)
	}
	t.Logf("spills %d, unspill calls %d, peak MemoryBytes %d (limit %d)", o.spills, o.unspills, maxBytes, limit)
}

// TestSpillConcurrent runs producers and consumers at once, under -race when
// enabled, and checks that nothing is lost or doubled.
func TestSpillConcurrent(t *testing.T) {
	const producers, consumers, items, hosts = 4, 8, 3000, 7
	o := newSliceOverflow()
	m := NewMemory(Config{MemoryLimit: 8 << 10, Overflow: o, PerHostConcurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Order is TestSpillKeepsHostOrder's: here a consumer may be
	// descheduled between Get and recording, so only counts are checked.
	var (
		mu  sync.Mutex
		got = map[string]int{}
	)
	var cwg, pwg sync.WaitGroup
	for range consumers {
		cwg.Go(func() {
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got[it.URL]++
				mu.Unlock()
				m.Done(it)
			}
		})
	}
	for p := range producers {
		pwg.Go(func() {
			for i := range items {
				h := fmt.Sprint(i % hosts)
				if err := m.Put(context.Background(), Item{URL: fmt.Sprintf("p%d/%d", p, i), Host: h}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pwg.Wait()
	jctx, jcancel := context.WithTimeout(ctx, 30*time.Second)
	defer jcancel()
	if err := m.Join(jctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	cancel()
	cwg.Wait()
	if len(got) != producers*items {
		t.Errorf("%d distinct items out, want %d", len(got), producers*items)
	}
	for u, n := range got {
		if n != 1 {
			t.Errorf("%s out %d times", u, n)
		}
	}
	if o.spills == 0 {
		t.Error("nothing spilled")
	}
}

// TestSpillFailures checks that a failing overflow loses nothing: a refused
// Spill queues and counts nothing (and Add does not mark the URL seen), and
// a failed Unspill leaves the items spilled for a later Get.
func TestSpillFailures(t *testing.T) {
	ctx := context.Background()
	o := newSliceOverflow()
	m := NewMemory(Config{MemoryLimit: 1, Overflow: o}) // everything spills
	boom := errors.New("disk full")

	o.failSpill = boom
	if err := m.Put(ctx, Item{URL: "a/0", Host: "a"}); !errors.Is(err, boom) {
		t.Fatalf("Put with failing Spill = %v, want %v", err, boom)
	}
	if _, err := m.Add(ctx, Item{URL: "a/1", Host: "a"}, 10); !errors.Is(err, boom) {
		t.Fatalf("Add with failing Spill = %v, want %v", err, boom)
	}
	if s := m.Stats(); s.Queued != 0 || s.Seen != 0 || s.Hosts != 0 {
		t.Fatalf("after refused Spills Stats = %+v, want nothing queued, seen or held", s)
	}
	if err := m.Join(ctx); err != nil {
		t.Fatalf("Join after refused Spills = %v", err)
	}

	o.failSpill = nil
	if a, err := m.Add(ctx, Item{URL: "a/1", Host: "a"}, 1); a != Added || err != nil {
		t.Fatalf("Add after the disk recovered = %v, %v; want Added (the failed Add neither counted nor marked it seen)", a, err)
	}
	put(t, m, "a", 2)

	o.failTake = boom
	if _, err := m.Get(ctx); !errors.Is(err, boom) {
		t.Fatalf("Get with failing Unspill = %v, want %v", err, boom)
	}
	if s := m.Stats(); s.Queued != 3 || s.Spilled != 3 {
		t.Fatalf("after failed Unspill Stats = %+v, want 3 queued, 3 spilled", s)
	}
	o.failTake = nil
	var urls []string
	for range 3 {
		it := get(t, m)
		urls = append(urls, it.URL)
		m.Done(it)
	}
	if want := []string{"a/1", "a/0", "a/1"}; !slices.Equal(urls, want) {
		t.Errorf("items out = %v, want %v", urls, want)
	}
}

// TestNoOverflowNoLimit checks that a MemoryLimit without an Overflow, or
// an Overflow without a MemoryLimit, keeps everything in memory, as
// documented.
func TestNoOverflowNoLimit(t *testing.T) {
	for _, cfg := range []Config{{MemoryLimit: 1}, {Overflow: newSliceOverflow()}} {
		m := NewMemory(cfg)
		put(t, m, "a", 100)
		if s := m.Stats(); s.Queued != 100 || s.Spilled != 0 || s.MemoryBytes < 100*itemOverhead {
			t.Errorf("%+v: Stats = %+v, want 100 queued in memory", cfg, s)
		}
	}
}

func BenchmarkMemory_PutGetDoneSpilling(b *testing.B) {
	o := newSliceOverflow()
	m := NewMemory(Config{MemoryLimit: 64 << 10, Overflow: o})
	ctx := context.Background()
	its := benchItems(100)
	for i := range 10_000 { // a backlog well past the limit
		if err := m.Put(ctx, its[i%len(its)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := m.Put(ctx, its[i%len(its)]); err != nil {
			b.Fatal(err)
		}
		it, err := m.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		m.Done(it)
	}
}
