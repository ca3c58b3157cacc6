package spill

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
	"go.uber.org/goleak"
)

var _ queue.Overflow = (*Spill)(nil)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func item(host string, n int) queue.Item {
	return queue.Item{URL: fmt.Sprintf("https://%s/page/%d", host, n), Host: host}
}

// spillDirs lists the scratch directories in parent.
func spillDirs(t *testing.T, parent string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(parent, "spill-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestSpill plays random interleaved Spills and Unspills on three hosts
// against a model: each host's items come back in the order spilled, IDs
// and all; asking for more than is spilled fails and takes nothing; Close
// removes the scratch directory, and nothing works after it.
func TestSpill(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "spill")
	s := New(parent, nil)
	hosts := []string{"a", "a.b", "b"} // a is a prefix of a.b
	model := map[string][]queue.Item{}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := 0
	unspill := func(host string, n int) {
		t.Helper()
		got, err := s.Unspill(host, n)
		if err != nil {
			t.Fatalf("Unspill(%s, %d) with %d spilled: %v", host, n, len(model[host]), err)
		}
		if fmt.Sprint(got) != fmt.Sprint(model[host][:n]) {
			t.Fatalf("Unspill(%s, %d) = %v, want %v", host, n, got, model[host][:n])
		}
		model[host] = model[host][n:]
	}
	for range 3_000 {
		host := hosts[rng.IntN(len(hosts))]
		if rng.IntN(3) > 0 || len(model[host]) == 0 {
			seq++
			it := item(host, seq)
			it.ID, it.Attempt, it.Origin = uint64(rng.Uint32()), seq%5, "o"
			if err := s.Spill(it); err != nil {
				t.Fatal(err)
			}
			model[host] = append(model[host], it)
			continue
		}
		unspill(host, 1+rng.IntN(len(model[host])))
	}
	if _, err := s.Unspill("a", len(model["a"])+1); err == nil {
		t.Error("Unspill of more than spilled: no error")
	}
	if _, err := s.Unspill("c", 1); err == nil {
		t.Error("Unspill of a host never spilled: no error")
	}
	for _, h := range hosts {
		if n := len(model[h]); n > 0 {
			unspill(h, n)
		}
	}
	if n := s.tails.Hosts(); n != 0 {
		t.Errorf("tails of %d hosts left", n)
	}
	if dirs := spillDirs(t, parent); len(dirs) != 1 {
		t.Fatalf("scratch directories %v, want one", dirs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs := spillDirs(t, parent); len(dirs) != 0 {
		t.Errorf("Close left %v", dirs)
	}
	if err := s.Spill(item("a", 1)); err == nil {
		t.Error("Spill after Close: no error")
	}
	if _, err := s.Unspill("a", 1); err == nil {
		t.Error("Unspill after Close: no error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSpillNothing: a Spill that never spilled creates nothing, not even
// its parent directory.
func TestSpillNothing(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "spill")
	s := New(parent, nil)
	if _, err := s.Unspill("a", 1); err == nil {
		t.Error("Unspill before any Spill: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v) though nothing was spilled", parent, err)
	}
}

// TestSpillErrors: a Spill that cannot make its scratch directory says so,
// naming the directory, and a NUL in a host is refused.
func TestSpillErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(file, nil)
	defer s.Close()
	err := s.Spill(item("a", 1))
	if err == nil || !strings.Contains(err.Error(), "spill: ") || !strings.Contains(err.Error(), file) {
		t.Errorf("Spill into a file's directory: %v", err)
	}
	s2 := New(t.TempDir(), nil)
	defer s2.Close()
	if err := s2.Spill(queue.Item{URL: "x", Host: "a\x00b"}); err == nil {
		t.Error("Spill of a host with a NUL byte: no error")
	}
}

// TestSpillMemory runs a queue.Memory with a small MemoryLimit over a Spill:
// 10,000 items on five hosts are Put, most spill, and four workers Get and
// Done them all, each host's in order; Join returns.
func TestSpillMemory(t *testing.T) {
	const n, workers = 10_000, 4
	parent := t.TempDir()
	s := New(parent, nil)
	m := queue.NewMemory(queue.Config{MemoryLimit: 16 << 10, Overflow: s})
	ctx := context.Background()
	want := map[string][]string{}
	for i := range n {
		it := item(fmt.Sprintf("%c.example", 'a'+i%5), i)
		if err := m.Put(ctx, it); err != nil {
			t.Fatal(err)
		}
		want[it.Host] = append(want[it.Host], it.URL)
	}
	if st := m.Stats(); st.Spilled < n*9/10 {
		t.Fatalf("after %d Puts: %+v; want over 90%% spilled", n, st)
	}
	var (
		mu  sync.Mutex
		got = map[string][]string{}
	)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				it, err := m.Get(wctx)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Error(err)
					}
					return
				}
				mu.Lock() // one in flight per host: recorded before its successor is handed out
				got[it.Host] = append(got[it.Host], it.URL)
				mu.Unlock()
				m.Done(it)
			}
		})
	}
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Join(jctx); err != nil {
		t.Errorf("Join: %v", err)
	}
	stop()
	wg.Wait()
	if fmt.Sprint(got) != fmt.Sprint(want) { // each host's items once each, in order
		t.Errorf("got items\n%.600v\nwant\n%.600v", got, want)
	}
	if st := m.Stats(); st.Queued != 0 || st.Spilled != 0 {
		t.Errorf("after Join: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs := spillDirs(t, parent); len(dirs) != 0 {
		t.Errorf("Close left %v", dirs)
	}
}

// BenchmarkSpill spills one item and takes one back per op, on 100 hosts
// with a backlog of 10,000 spilled items, as a memory queue at its limit
// does for each item it queues and hands out.
func BenchmarkSpill(b *testing.B) {
	const backlog = 10_000
	s := New(b.TempDir(), nil)
	defer s.Close()
	for i := range backlog {
		if err := s.Spill(benchItem(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		it := benchItem(backlog + i)
		if err := s.Spill(it); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unspill(it.Host, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// benchItem returns item i of BenchmarkSpill, of about 45 bytes, on one of
// 100 hosts.
func benchItem(i int) queue.Item {
	return item(fmt.Sprintf("www.site%03d.example.com", i%100), i)
}
