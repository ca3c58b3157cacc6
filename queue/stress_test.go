package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestStress runs producers and link-discovering consumers concurrently (run
// it with -race) and checks that every item Put is got exactly once.
func TestStress(t *testing.T) {
	const workers, hosts, seeds = 8, 200, 500
	m := NewMemory(Config{PerHostConcurrency: 2})
	var (
		mu       sync.Mutex
		putCount = map[string]int{}
		gotCount = map[string]int{}
		inFlight [hosts]atomic.Int32
	)
	putItem := func(it Item) {
		mu.Lock()
		putCount[it.URL]++
		mu.Unlock()
		if err := m.Put(context.Background(), it); err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var consumers, producers sync.WaitGroup
	for w := range workers {
		producers.Go(func() {
			for i := range seeds {
				h := (w*seeds + i) % hosts
				putItem(Item{URL: fmt.Sprintf("%d/%d/%d", h, w, i), Host: fmt.Sprint(h)})
			}
		})
		consumers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				var h int
				fmt.Sscan(it.Host, &h)
				if n := inFlight[h].Add(1); n > 2 {
					t.Errorf("host %d: %d in flight, want ≤ 2", h, n)
				}
				mu.Lock()
				gotCount[it.URL]++
				mu.Unlock()
				if it.Depth < 3 && rng.IntN(2) == 0 {
					for c := range 2 {
						ch := rng.IntN(hosts)
						putItem(Item{URL: fmt.Sprintf("%s>%d", it.URL, c), Host: fmt.Sprint(ch), Depth: it.Depth + 1})
					}
				}
				inFlight[h].Add(-1)
				m.Done(it)
			}
		})
	}
	producers.Wait()
	jctx, jcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer jcancel()
	if err := m.Join(jctx); err != nil {
		t.Fatalf("Join = %v", err)
	}
	cancel()
	consumers.Wait()
	if len(putCount) < workers*seeds {
		t.Errorf("distinct items put = %d, want ≥ %d", len(putCount), workers*seeds)
	}
	for url, n := range putCount {
		if n != 1 || gotCount[url] != 1 {
			t.Errorf("%s: put %d times, got %d times; want 1, 1", url, n, gotCount[url])
		}
	}
	if len(gotCount) != len(putCount) {
		t.Errorf("items got = %d, want %d", len(gotCount), len(putCount))
	}
	if got, want := m.Stats(), (Stats{}); got != want {
		t.Errorf("final Stats = %+v, want %+v", got, want)
	}
}

// TestStressTiming is TestStress with workers that also Block, Unblock and
// set intervals, as the crawler does on 429s, failures and Crawl-delay (run
// it with -race): every item Put is got exactly once, the per-host cap and
// every block hold, and Join returns.
func TestStressTiming(t *testing.T) {
	for _, cfg := range []Config{{PerHostConcurrency: 2}, {Rate: 50, Burst: 2, PerHostConcurrency: 2}} {
		t.Run(fmt.Sprintf("rate %v", cfg.Rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { stressTiming(t, cfg) })
		})
	}
}

func stressTiming(t *testing.T, cfg Config) {
	const workers, hosts, seeds = 8, 50, 150
	m := NewMemory(cfg)
	start := time.Now()
	// Blocks and hand-outs are logged with the time of the call. Time
	// stands still while goroutines run, so two calls at the same instant
	// may have run in either order: a hand-out breaks a block only if it
	// came at a later instant than the Block, and no Unblock came between.
	type block struct{ at, until time.Time }
	var (
		mu       sync.Mutex
		putCount = map[string]int{}
		gotCount = map[string]int{}
		blocks   [hosts][]block
		unblocks [hosts][]time.Time
		handOuts [hosts][]event
		inFlight [hosts]atomic.Int32
	)
	putItem := func(it Item) {
		mu.Lock()
		putCount[it.URL]++
		mu.Unlock()
		if err := m.Put(context.Background(), it); err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	// meddle slows host h down or lets it go, at random.
	meddle := func(rng *rand.Rand, h int) {
		host := fmt.Sprint(h)
		switch now := time.Now(); rng.IntN(4) {
		case 0:
			until := now.Add(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
			m.Block(context.Background(), host, until)
			mu.Lock()
			blocks[h] = append(blocks[h], block{now, until})
			mu.Unlock()
		case 1:
			m.Unblock(context.Background(), host)
			mu.Lock()
			unblocks[h] = append(unblocks[h], now)
			mu.Unlock()
		case 2:
			m.SetInterval(context.Background(), host, time.Duration(rng.Int64N(int64(50*time.Millisecond))))
		case 3:
			m.SetInterval(context.Background(), host, 0)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var consumers, producers sync.WaitGroup
	for w := range workers {
		producers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range seeds {
				h := (w*seeds + i) % hosts
				putItem(Item{URL: fmt.Sprintf("%d/%d/%d", h, w, i), Host: fmt.Sprint(h)})
				if rng.IntN(4) == 0 {
					meddle(rng, rng.IntN(hosts))
				}
				if rng.IntN(8) == 0 {
					time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
				}
			}
		})
		consumers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for {
				it, err := m.Get(ctx)
				if err != nil {
					return
				}
				var h int
				fmt.Sscan(it.Host, &h)
				mu.Lock()
				gotCount[it.URL]++
				handOuts[h] = append(handOuts[h], event{time.Since(start), it.URL})
				mu.Unlock()
				if n := inFlight[h].Add(1); n > 2 {
					t.Errorf("host %d: %d in flight, want ≤ 2", h, n)
				}
				if rng.IntN(3) == 0 {
					meddle(rng, h)
				}
				if it.Depth < 2 && rng.IntN(2) == 0 {
					putItem(Item{URL: it.URL + ">", Host: fmt.Sprint(rng.IntN(hosts)), Depth: it.Depth + 1})
				}
				time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
				inFlight[h].Add(-1)
				m.Done(it)
			}
		})
	}
	producers.Wait()
	if err := m.Join(context.Background()); err != nil {
		t.Fatalf("Join = %v", err)
	}
	cancel()
	consumers.Wait()
	for url, n := range putCount {
		if n != 1 || gotCount[url] != 1 {
			t.Errorf("%s: put %d times, got %d times; want 1, 1", url, n, gotCount[url])
		}
	}
	if len(gotCount) != len(putCount) {
		t.Errorf("items got = %d, want %d", len(gotCount), len(putCount))
	}
	for h := range hosts {
		for _, e := range handOuts[h] {
			at := start.Add(e.at)
		blocks:
			for _, b := range blocks[h] {
				if !b.at.Before(at) || !at.Before(b.until) {
					continue
				}
				for _, u := range unblocks[h] {
					if !u.Before(b.at) && !u.After(at) {
						continue blocks
					}
				}
				t.Errorf("host %d: %s handed out at %v, under a block set at %v until %v", h, e.url, e.at, b.at.Sub(start), b.until.Sub(start))
			}
		}
	}
	checkTimed(t, m)
	// Once every block has passed and every limiter refilled, no host state
	// is left, though the intervals still set are kept.
	time.Sleep(time.Minute)
	if got, want := m.Stats(), (Stats{}); got != want {
		t.Errorf("final Stats = %+v, want %+v", got, want)
	}
	checkTimed(t, m)
	for h := range hosts {
		m.SetInterval(context.Background(), fmt.Sprint(h), 0)
	}
	if len(m.intervals) != 0 || m.clocked() != (cfg.Rate > 0) {
		t.Errorf("after clearing: intervals = %v, clocked = %v; want none, %v", m.intervals, m.clocked(), cfg.Rate > 0)
	}
}
