// Package netguard keeps crawld from connecting to private and special-purpose
// IP addresses, so that a crawled page cannot turn the crawler into a tool for
// reaching internal services (server-side request forgery): a public name that
// resolves to 10.0.0.5, a redirect to http://169.254.169.254/ (cloud
// metadata), a link to http://[::1]:6379/.
//
// The check runs at dial time, in the net.Dialer's Control hook, rather than on
// URLs. A URL check sees only a host name, and DNS can answer anything: a
// name can resolve to a private address, or resolve to a public address when
// checked and to a private one a moment later when the connection is made
// (DNS rebinding). The Control hook is called with the literal IP address the
// socket is about to connect to, after resolution, once per address tried
// (including every address of a happy-eyeballs race and every redirect hop),
// so what is checked is exactly what is connected to.
//
// Use it as:
//
//	g, err := netguard.New(cfg.AllowPrivate, cfg.AllowCIDRs)
//	dialer := &net.Dialer{Control: g.Control}
//	transport := &http.Transport{DialContext: dialer.DialContext}
//
// A refused connection fails with an error wrapping a *BlockedError, which
// callers find with errors.As.
package netguard

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
)

// Names of the blocked ranges, as they appear in BlockedError.Range.
const (
	rangeLoopback    = "loopback"
	rangePrivate     = "private"
	rangeLinkLocal   = "link-local"
	rangeShared      = "shared"
	rangeUniqueLocal = "unique-local"
	rangeMulticast   = "multicast"
	rangeUnspecified = "unspecified"
	rangeBroadcast   = "broadcast"
	rangeReserved    = "reserved"
	rangeInvalid     = "invalid"
)

// namedPrefix is one blocked range and the name reported for it.
type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

// table holds the special-purpose ranges. It is a value (arrays, no slices
// or maps) so that a Guard owns its copy and nothing is shared or mutable.
type table struct {
	// v4 is searched in order; the first match names the range, so
	// 255.255.255.255 is reported as broadcast, not as reserved.
	v4 [12]namedPrefix
	v6 [5]namedPrefix
	// nat64 and compat are IPv6 prefixes whose last 32 bits are an IPv4
	// address: the well-known NAT64 prefix (RFC 6052) and the deprecated
	// IPv4-compatible form (RFC 4291).
	nat64, compat netip.Prefix
}

func pfx4(a, b, c, d byte, bits int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{a, b, c, d}), bits)
}

func pfx6(b [16]byte, bits int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}

// specialRanges builds the table of blocked ranges. It allocates nothing, so
// the zero Guard can afford to call it on every Check.
func specialRanges() table {
	return table{
		v4: [...]namedPrefix{
			{pfx4(0, 0, 0, 0, 8), rangeUnspecified},        // "this network", RFC 1122
			{pfx4(10, 0, 0, 0, 8), rangePrivate},           // RFC 1918
			{pfx4(100, 64, 0, 0, 10), rangeShared},         // CGNAT, RFC 6598
			{pfx4(127, 0, 0, 0, 8), rangeLoopback},         // RFC 1122
			{pfx4(169, 254, 0, 0, 16), rangeLinkLocal},     // RFC 3927; cloud metadata
			{pfx4(172, 16, 0, 0, 12), rangePrivate},        // RFC 1918
			{pfx4(192, 0, 0, 0, 24), rangeReserved},        // IETF protocol assignments, RFC 6890
			{pfx4(192, 168, 0, 0, 16), rangePrivate},       // RFC 1918
			{pfx4(198, 18, 0, 0, 15), rangeReserved},       // benchmarking, RFC 2544
			{pfx4(224, 0, 0, 0, 4), rangeMulticast},        // RFC 5771
			{pfx4(255, 255, 255, 255, 32), rangeBroadcast}, // RFC 919; before 240.0.0.0/4
			{pfx4(240, 0, 0, 0, 4), rangeReserved},         // "future use", RFC 1112; used internally by some clouds
		},
		v6: [...]namedPrefix{
			{pfx6([16]byte{}, 128), rangeUnspecified},        // ::
			{pfx6([16]byte{15: 1}, 128), rangeLoopback},      // ::1
			{pfx6([16]byte{0xfe, 0x80}, 10), rangeLinkLocal}, // fe80::/10
			{pfx6([16]byte{0xfc}, 7), rangeUniqueLocal},      // fc00::/7, RFC 4193
			{pfx6([16]byte{0xff}, 8), rangeMulticast},        // ff00::/8
		},
		nat64:  pfx6([16]byte{0x00, 0x64, 0xff, 0x9b}, 96), // 64:ff9b::/96
		compat: pfx6([16]byte{}, 96),                       // ::/96
	}
}

// Guard decides which IP addresses crawld may connect to. The zero value
// blocks every special-purpose range: loopback, private (RFC 1918),
// link-local, shared (CGNAT), unique-local, multicast, unspecified, broadcast
// and reserved; a nil *Guard behaves like the zero value. Safe for
// concurrent use (immutable).
type Guard struct {
	allowAll bool
	// ready reports whether ranges was filled by New; the zero Guard
	// builds the table on the fly instead.
	ready  bool
	ranges table
	allow  []netip.Prefix
}

// New returns a Guard. With allowPrivate, nothing is blocked. allowCIDRs
// (e.g. "127.0.0.0/8", "10.1.0.0/16", "fd00::/8") are let through even though
// they fall in a blocked range; an IPv4-mapped IPv6 prefix such as
// "::ffff:10.0.0.0/104" is taken as the IPv4 prefix it maps. An invalid CIDR
// is an error naming it, e.g. `netguard: invalid CIDR "10.0.0.0/33": ...`,
// whether or not allowPrivate is set.
func New(allowPrivate bool, allowCIDRs []string) (*Guard, error) {
	g := &Guard{allowAll: allowPrivate, ready: true, ranges: specialRanges()}
	for _, s := range allowCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("netguard: invalid CIDR %q: %w", s, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Check returns nil if ip may be connected to, else a *BlockedError whose
// Addr is ip as given. IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are
// checked as the IPv4 address they map; NAT64 (64:ff9b::/96) and
// IPv4-compatible (::/96) addresses that are not themselves blocked get the
// verdict of the IPv4 address in their last 32 bits. An IPv6 zone is
// ignored. The invalid (zero) netip.Addr is blocked as "invalid".
func (g *Guard) Check(ip netip.Addr) error {
	if g != nil && g.allowAll {
		return nil
	}
	if name := g.blockedRange(ip); name != "" {
		return &BlockedError{Addr: ip, Range: name}
	}
	return nil
}

// blockedRange returns the name of the blocked range holding ip, or "" if
// ip may be connected to.
func (g *Guard) blockedRange(ip netip.Addr) string {
	if !ip.IsValid() {
		return rangeInvalid
	}
	// Prefix.Contains is false for any address with a zone, and for an
	// IPv4-mapped address against an IPv4 prefix: normalize first.
	a := ip.WithZone("").Unmap()

	var t *table
	var allow []netip.Prefix
	if g != nil && g.ready {
		t, allow = &g.ranges, g.allow
	} else {
		built := specialRanges()
		t = &built
	}

	if allowed(allow, a) {
		return ""
	}
	if name := lookup(t, a); name != "" {
		return name
	}
	if a.Is6() && (t.nat64.Contains(a) || t.compat.Contains(a)) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if allowed(allow, v4) {
			return ""
		}
		return lookup(t, v4)
	}
	return ""
}

func allowed(allow []netip.Prefix, a netip.Addr) bool {
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lookup returns the name of the first range of t holding a, or "".
func lookup(t *table, a netip.Addr) string {
	ranges := t.v6[:]
	if a.Is4() {
		ranges = t.v4[:]
	}
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.name
		}
	}
	return ""
}

// Control is a net.Dialer Control function: it parses address (host:port
// with a literal IP, as the dialer passes it after resolution) and applies
// Check. Use it as dialer.Control = guard.Control (or ControlContext). An
// address that is not a literal IP, with or without a port (a Unix socket
// path, say), is refused with an error that is not a *BlockedError: the
// guard fails closed.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(address); err == nil {
		ip = ap.Addr()
	} else if a, err2 := netip.ParseAddr(address); err2 == nil {
		ip = a
	} else {
		return fmt.Errorf("netguard: cannot check %s address %q: %w", network, address, err)
	}
	return g.Check(ip)
}

// ControlContext is Control in the form of net.Dialer.ControlContext; the
// context is not used.
func (g *Guard) ControlContext(_ context.Context, network, address string, c syscall.RawConn) error {
	return g.Control(network, address, c)
}

// BlockedError is the refusal of one address; its message is
// "blocked address <ip> (<range name>)", e.g.
// "blocked address 127.0.0.1 (loopback)". Callers match it with errors.As.
type BlockedError struct {
	// Addr is the address refused, as passed to Check.
	Addr netip.Addr
	// Range names the blocked range: "loopback", "private", "link-local",
	// "shared", "unique-local", "multicast", "unspecified", "broadcast",
	// "reserved", or "invalid" for the zero netip.Addr.
	Range string
}

// Error returns "blocked address <ip> (<range name>)".
func (e *BlockedError) Error() string {
	return "blocked address " + e.Addr.String() + " (" + e.Range + ")"
}
