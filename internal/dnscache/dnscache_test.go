package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeDNS answers from a table and counts the queries it gets.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	queries map[string]int
	release chan struct{} // if set, every query waits for it
}

func (f *fakeDNS) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries[host]++
	if a, ok := f.answers[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeDNS) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[host]
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func setup() (*fakeDNS, *clock, *Resolver) {
	dns := &fakeDNS{answers: map[string][]netip.Addr{"a.test": {netip.MustParseAddr("192.0.2.1")}}, queries: map[string]int{}}
	clk := &clock{}
	return dns, clk, newResolver(dns.lookup, time.Minute, 5*time.Second, clk.now)
}

func TestResolver_CachesUntilTTL(t *testing.T) {
	dns, clk, r := setup()
	ctx := context.Background()
	for range 3 {
		addrs, err := r.LookupNetIP(ctx, "a.test")
		if err != nil || len(addrs) != 1 || addrs[0].String() != "192.0.2.1" {
			t.Fatalf("LookupNetIP = %v, %v", addrs, err)
		}
	}
	if n := dns.count("a.test"); n != 1 {
		t.Errorf("queries within the TTL: %d, want 1", n)
	}
	clk.advance(time.Minute)
	if _, err := r.LookupNetIP(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if n := dns.count("a.test"); n != 2 {
		t.Errorf("queries after the TTL: %d, want 2", n)
	}
}

func TestResolver_NegativeAnswers(t *testing.T) {
	dns, clk, r := setup()
	ctx := context.Background()
	for range 3 {
		_, err := r.LookupNetIP(ctx, "gone.test")
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Fatalf("LookupNetIP(gone.test) = %v, want not found", err)
		}
	}
	if n := dns.count("gone.test"); n != 1 {
		t.Errorf("queries for a failing name within the negative TTL: %d, want 1", n)
	}
	clk.advance(5 * time.Second)
	r.LookupNetIP(ctx, "gone.test")
	if n := dns.count("gone.test"); n != 2 {
		t.Errorf("queries after the negative TTL: %d, want 2", n)
	}
}

func TestResolver_ConcurrentLookupsShareOneQuery(t *testing.T) {
	dns, _, r := setup()
	dns.release = make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := r.LookupNetIP(context.Background(), "a.test"); err != nil {
				t.Error(err)
			}
		})
	}
	close(dns.release)
	wg.Wait()
	if n := dns.count("a.test"); n != 1 {
		t.Errorf("queries for 10 concurrent lookups: %d, want 1", n)
	}
}

func TestResolver_CancelledLookupIsNotCached(t *testing.T) {
	dns, _, r := setup()
	dns.release = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.LookupNetIP(ctx, "a.test"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup: %v", err)
	}
	close(dns.release)
	if addrs, err := r.LookupNetIP(context.Background(), "a.test"); err != nil || len(addrs) != 1 {
		t.Errorf("lookup after a cancelled one = %v, %v; the cancellation was cached", addrs, err)
	}
}

func TestResolver_IPLiteralsBypass(t *testing.T) {
	dns, _, r := setup()
	addrs, err := r.LookupNetIP(context.Background(), "127.0.0.1")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "127.0.0.1" || dns.count("127.0.0.1") != 0 || r.Len() != 0 {
		t.Errorf("IP literal: %v, %v; queries %d, entries %d", addrs, err, dns.count("127.0.0.1"), r.Len())
	}
}

func TestDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dns := &fakeDNS{answers: map[string][]netip.Addr{
		// The first address refuses; the dialer must go on to the second.
		"svc.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")},
	}, queries: map[string]int{}}
	r := newResolver(dns.lookup, time.Minute, time.Second, time.Now)
	var dialed []string
	var d net.Dialer
	dial := r.DialContext(func(ctx context.Context, network, address string) (net.Conn, error) {
		dialed = append(dialed, address)
		return d.DialContext(ctx, network, address)
	})
	conn, err := dial(context.Background(), "tcp", net.JoinHostPort("svc.test", port))
	if err != nil {
		t.Fatalf("dial: %v (tried %v)", err, dialed)
	}
	conn.Close()
	if len(dialed) != 2 || dialed[1] != net.JoinHostPort("127.0.0.1", port) {
		t.Errorf("addresses dialled: %v", dialed)
	}
	if _, err := dial(context.Background(), "tcp", "nowhere.test:80"); err == nil {
		t.Error("dialling an unknown name succeeded")
	}
}
