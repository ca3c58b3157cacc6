// Package dnscache is an in-process DNS cache for the crawler's dialer.
//
// Go's resolver asks the system for every new connection; a crawler opening
// thousands of connections to the same hosts would send the same queries
// over and over (Scrapy's users reach for aiodns for the same reason). The
// cache keeps each answer for a bounded time — Go's resolver does not expose
// record TTLs, so the bound is the cache's own — and keeps failures ("no such
// host") for a shorter time, so a dead name is not asked again on every link
// to it. Concurrent lookups of one name share a single query.
package dnscache

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Resolver caches the answers of a lookup function.
type Resolver struct {
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)
	ttl      time.Duration // how long an answer is kept
	negative time.Duration // how long a failure is kept
	now      func() time.Time

	mu      sync.Mutex // guards entries
	entries map[string]*entry
}

type entry struct {
	ready   chan struct{} // closed when addrs and err are set
	addrs   []netip.Addr
	err     error
	expires time.Time
}

// New returns a Resolver over the system resolver (net.DefaultResolver),
// keeping answers for ttl and failures for negativeTTL.
func New(ttl, negativeTTL time.Duration) *Resolver {
	return newResolver(func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}, ttl, negativeTTL, time.Now)
}

func newResolver(lookup func(context.Context, string) ([]netip.Addr, error), ttl, negative time.Duration, now func() time.Time) *Resolver {
	return &Resolver{lookup: lookup, ttl: ttl, negative: negative, now: now, entries: make(map[string]*entry)}
}

// LookupNetIP returns the addresses of host, from the cache while the
// answer is fresh. A lookup cancelled by its caller's ctx is not cached.
func (r *Resolver) LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	for {
		r.mu.Lock()
		now := r.now()
		e := r.entries[host]
		if e != nil {
			select {
			case <-e.ready:
				if now.Before(e.expires) {
					r.mu.Unlock()
					return e.addrs, e.err
				}
				e = nil // stale: look it up again
			default:
			}
		}
		if e == nil {
			r.sweep(now)
			e = &entry{ready: make(chan struct{})}
			r.entries[host] = e
			r.mu.Unlock()
			return r.resolve(ctx, host, e)
		}
		r.mu.Unlock()
		select {
		case <-e.ready: // another caller's query finished: read it
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// resolve runs the query for e and publishes its answer.
func (r *Resolver) resolve(ctx context.Context, host string, e *entry) ([]netip.Addr, error) {
	addrs, err := r.lookup(ctx, host)
	r.mu.Lock()
	defer r.mu.Unlock()
	e.addrs, e.err = addrs, err
	switch {
	case err == nil:
		e.expires = r.now().Add(r.ttl)
	case ctx.Err() != nil:
		// The caller gave up: the failure says nothing about the name.
		delete(r.entries, host)
	default:
		e.expires = r.now().Add(r.negative)
	}
	close(e.ready)
	return addrs, err
}

// sweep drops expired answers so the cache holds only names in use; r.mu is
// held. It walks the map only when it has grown, amortising the cost.
func (r *Resolver) sweep(now time.Time) {
	if len(r.entries) < 1024 || len(r.entries)&(len(r.entries)-1) != 0 {
		return
	}
	for host, e := range r.entries {
		select {
		case <-e.ready:
			if !now.Before(e.expires) {
				delete(r.entries, host)
			}
		default:
		}
	}
}

// Len returns the number of names held.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// DialContext returns a dial function that resolves names through r and
// dials the addresses in turn with dial, as net.Dialer does with its own
// resolver. Address checks (the private-address guard) stay in dial's
// Control hook, so they apply to every address tried.
func (r *Resolver) DialContext(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		addrs, err := r.LookupNetIP(ctx, host)
		if err != nil {
			return nil, err
		}
		var firstErr error
		for _, ip := range addrs {
			conn, err := dial(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		if firstErr == nil {
			firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, firstErr
	}
}
