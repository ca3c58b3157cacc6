package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func mustNew(t testing.TB, allowPrivate bool, cidrs ...string) *Guard {
	t.Helper()
	g, err := New(allowPrivate, cidrs)
	if err != nil {
		t.Fatalf("New(%v, %q): %v", allowPrivate, cidrs, err)
	}
	return g
}

// verdict returns the range name Check reports for ip, or "" if allowed. It
// fails the test if the error is not a *BlockedError for ip.
func verdict(t *testing.T, g *Guard, ip netip.Addr) string {
	t.Helper()
	err := g.Check(ip)
	if err == nil {
		return ""
	}
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("Check(%s) = %v (%T), want a *BlockedError", ip, err, err)
	}
	if be.Addr != ip {
		t.Errorf("Check(%s): BlockedError.Addr = %s, want the address checked", ip, be.Addr)
	}
	return be.Range
}

// blockedCases covers every blocked range with an address inside and at
// both edges, plus the public neighbours just outside.
var blockedCases = []struct {
	ip   string
	want string // range name, "" if allowed
}{
	// unspecified / "this network"
	{"0.0.0.0", "unspecified"},
	{"0.1.2.3", "unspecified"},
	{"0.255.255.255", "unspecified"},
	{"1.0.0.0", ""},
	{"::", "unspecified"},
	// private, RFC 1918
	{"9.255.255.255", ""},
	{"10.0.0.0", "private"},
	{"10.0.0.5", "private"},
	{"10.255.255.255", "private"},
	{"11.0.0.0", ""},
	{"172.15.255.255", ""},
	{"172.16.0.0", "private"},
	{"172.20.1.1", "private"},
	{"172.31.255.255", "private"},
	{"172.32.0.0", ""},
	{"192.167.255.255", ""},
	{"192.168.0.0", "private"},
	{"192.168.1.1", "private"},
	{"192.168.255.255", "private"},
	{"192.169.0.0", ""},
	// shared, CGNAT
	{"100.63.255.255", ""},
	{"100.64.0.0", "shared"},
	{"100.100.100.100", "shared"},
	{"100.127.255.255", "shared"},
	{"100.128.0.0", ""},
	// loopback
	{"126.255.255.255", ""},
	{"127.0.0.0", "loopback"},
	{"127.0.0.1", "loopback"},
	{"127.255.255.255", "loopback"},
	{"128.0.0.0", ""},
	{"::1", "loopback"},
	{"::2", "unspecified"}, // IPv4-compatible ::0.0.0.2
	// link-local
	{"169.253.255.255", ""},
	{"169.254.0.0", "link-local"},
	{"169.254.169.254", "link-local"},
	{"169.254.255.255", "link-local"},
	{"169.255.0.0", ""},
	{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
	{"fe80::", "link-local"},
	{"fe80::1", "link-local"},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"},
	{"fec0::", ""},
	// unique-local
	{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
	{"fc00::", "unique-local"},
	{"fd00::1", "unique-local"},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"},
	// multicast
	{"223.255.255.255", ""},
	{"224.0.0.0", "multicast"},
	{"239.1.2.3", "multicast"},
	{"239.255.255.255", "multicast"},
	{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
	{"ff00::", "multicast"},
	{"ff02::1", "multicast"},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},
	// broadcast, and the rest of 240.0.0.0/4
	{"255.255.255.255", "broadcast"},
	{"255.255.255.254", "reserved"},
	{"240.0.0.0", "reserved"},
	// reserved: IETF protocol assignments, benchmarking
	{"191.255.255.255", ""},
	{"192.0.0.0", "reserved"},
	{"192.0.0.170", "reserved"},
	{"192.0.0.255", "reserved"},
	{"192.0.1.0", ""},
	{"198.17.255.255", ""},
	{"198.18.0.0", "reserved"},
	{"198.19.255.255", "reserved"},
	{"198.20.0.0", ""},
	// public
	{"8.8.8.8", ""},
	{"1.1.1.1", ""},
	{"93.184.215.14", ""},
	{"223.255.255.254", ""},
	{"2606:4700::1111", ""},
	{"2001:4860:4860::8888", ""},
	{"2a00:1450:4001::1", ""},
}

func TestCheckRanges(t *testing.T) {
	guards := []struct {
		name string
		g    *Guard
	}{
		{"New", mustNew(t, false)},
		{"zero", &Guard{}},
		{"nil", nil},
	}
	for _, gc := range guards {
		for _, tc := range blockedCases {
			t.Run(gc.name+"/"+tc.ip, func(t *testing.T) {
				ip := netip.MustParseAddr(tc.ip)
				if got := verdict(t, gc.g, ip); got != tc.want {
					t.Errorf("Check(%s): got range %q, want %q", tc.ip, got, tc.want)
				}
			})
		}
	}
}

func TestCheckMappedAndEmbedded(t *testing.T) {
	g := mustNew(t, false)
	tests := []struct {
		ip   string
		want string
	}{
		// IPv4-mapped IPv6 is checked as the IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:100.64.0.1", "shared"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:255.255.255.255", "broadcast"},
		{"::ffff:7f00:1", "loopback"},
		{"::ffff:8.8.8.8", ""},
		// IPv4-compatible (deprecated) forms.
		{"::127.0.0.1", "loopback"},
		{"::10.0.0.1", "private"},
		{"::8.8.8.8", ""},
		// NAT64 well-known prefix embedding an IPv4 address.
		{"64:ff9b::10.0.0.1", "private"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"64:ff9b::127.0.0.1", "loopback"},
		{"64:ff9b::192.168.0.1", "private"},
		{"64:ff9b::8.8.8.8", ""},
		{"64:ff9b::1.1.1.1", ""},
		// Not NAT64: outside 64:ff9b::/96.
		{"64:ff9b:0:0:1::a00:1", ""},
		// Zones do not hide an address.
		{"fe80::1%eth0", "link-local"},
		{"::1%lo", "loopback"},
		{"fd00::1%1", "unique-local"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.ip)
			if got := verdict(t, g, ip); got != tc.want {
				t.Errorf("Check(%s): got range %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

func TestCheckInvalidAddr(t *testing.T) {
	for _, g := range []*Guard{mustNew(t, false), {}} {
		if got, want := verdict(t, g, netip.Addr{}), "invalid"; got != want {
			t.Errorf("Check(zero Addr): got range %q, want %q", got, want)
		}
	}
	if err := mustNew(t, true).Check(netip.Addr{}); err != nil {
		t.Errorf("allowPrivate Check(zero Addr) = %v, want nil", err)
	}
}

func TestAllowPrivate(t *testing.T) {
	g := mustNew(t, true)
	for _, tc := range blockedCases {
		t.Run(tc.ip, func(t *testing.T) {
			if err := g.Check(netip.MustParseAddr(tc.ip)); err != nil {
				t.Errorf("allowPrivate: Check(%s) = %v, want nil", tc.ip, err)
			}
		})
	}
}

func TestAllowCIDRs(t *testing.T) {
	tests := []struct {
		name  string
		cidrs []string
		ip    string
		want  string
	}{
		{"loopback opened", []string{"127.0.0.0/8"}, "127.0.0.5", ""},
		{"loopback edge", []string{"127.0.0.0/8"}, "127.255.255.255", ""},
		{"loopback does not open private", []string{"127.0.0.0/8"}, "10.0.0.1", "private"},
		{"loopback does not open ::1", []string{"127.0.0.0/8"}, "::1", "loopback"},
		{"mapped loopback opened", []string{"127.0.0.0/8"}, "::ffff:127.0.0.5", ""},
		{"NAT64 of opened range", []string{"127.0.0.0/8"}, "64:ff9b::127.0.0.5", ""},
		{"subnet inside", []string{"10.1.0.0/16"}, "10.1.2.3", ""},
		{"subnet low edge", []string{"10.1.0.0/16"}, "10.1.0.0", ""},
		{"subnet high edge", []string{"10.1.0.0/16"}, "10.1.255.255", ""},
		{"below subnet", []string{"10.1.0.0/16"}, "10.0.255.255", "private"},
		{"above subnet", []string{"10.1.0.0/16"}, "10.2.0.0", "private"},
		{"unmasked CIDR", []string{"10.1.2.3/16"}, "10.1.200.1", ""},
		{"single host", []string{"192.168.1.10/32"}, "192.168.1.10", ""},
		{"single host neighbour", []string{"192.168.1.10/32"}, "192.168.1.11", "private"},
		{"IPv6 ULA", []string{"fd00::/8"}, "fd12::1", ""},
		{"IPv6 ULA not fc", []string{"fd00::/8"}, "fc00::1", "unique-local"},
		{"IPv6 loopback", []string{"::1/128"}, "::1", ""},
		{"IPv6 prefix ignores IPv4", []string{"fd00::/8"}, "10.0.0.1", "private"},
		{"mapped-form CIDR", []string{"::ffff:10.0.0.0/104"}, "10.9.9.9", ""},
		{"mapped-form CIDR edge", []string{"::ffff:10.0.0.0/104"}, "11.0.0.0", ""},
		{"mapped-form CIDR outside", []string{"::ffff:10.0.0.0/104"}, "192.168.0.1", "private"},
		{"several", []string{"10.0.0.0/8", "fe80::/10"}, "fe80::1%eth0", ""},
		{"public unaffected", []string{"10.0.0.0/8"}, "8.8.8.8", ""},
		{"empty list", []string{}, "127.0.0.1", "loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, false, tc.cidrs...)
			if got := verdict(t, g, netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Errorf("allow %q: Check(%s): got range %q, want %q", tc.cidrs, tc.ip, got, tc.want)
			}
		})
	}
}

func TestNewInvalidCIDR(t *testing.T) {
	tests := []struct {
		name  string
		cidrs []string
		bad   string
	}{
		{"bits too large", []string{"10.0.0.0/33"}, "10.0.0.0/33"},
		{"IPv6 bits too large", []string{"fd00::/129"}, "fd00::/129"},
		{"no slash", []string{"10.0.0.1"}, "10.0.0.1"},
		{"empty", []string{""}, ""},
		{"garbage", []string{"localhost/8"}, "localhost/8"},
		{"space", []string{" 10.0.0.0/8"}, " 10.0.0.0/8"},
		{"second bad", []string{"127.0.0.0/8", "300.0.0.0/8"}, "300.0.0.0/8"},
	}
	for _, tc := range tests {
		for _, allowPrivate := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/allowPrivate=%v", tc.name, allowPrivate), func(t *testing.T) {
				g, err := New(allowPrivate, tc.cidrs)
				if err == nil {
					t.Fatalf("New(%v, %q) = %v, nil; want an error", allowPrivate, tc.cidrs, g)
				}
				if g != nil {
					t.Errorf("New(%v, %q) returned a Guard with error %v", allowPrivate, tc.cidrs, err)
				}
				want := `netguard: invalid CIDR "` + tc.bad + `": `
				if got := err.Error(); !strings.HasPrefix(got, want) {
					t.Errorf("error = %q, want prefix %q", got, want)
				}
			})
		}
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	g := mustNew(t, false)
	tests := []struct {
		ip   string
		want string
	}{
		{"127.0.0.1", "blocked address 127.0.0.1 (loopback)"},
		{"10.0.0.5", "blocked address 10.0.0.5 (private)"},
		{"169.254.169.254", "blocked address 169.254.169.254 (link-local)"},
		{"::1", "blocked address ::1 (loopback)"},
		{"::ffff:10.0.0.1", "blocked address ::ffff:10.0.0.1 (private)"},
		{"64:ff9b::a00:1", "blocked address 64:ff9b::a00:1 (private)"},
		{"fe80::1%eth0", "blocked address fe80::1%eth0 (link-local)"},
		{"198.18.0.1", "blocked address 198.18.0.1 (reserved)"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			err := g.Check(netip.MustParseAddr(tc.ip))
			if err == nil {
				t.Fatalf("Check(%s) = nil, want an error", tc.ip)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			wrapped := &net.OpError{Op: "dial", Net: "tcp", Err: err}
			var be *BlockedError
			if !errors.As(wrapped, &be) {
				t.Fatalf("errors.As(%v, *BlockedError) = false", wrapped)
			}
			if be.Addr != netip.MustParseAddr(tc.ip) {
				t.Errorf("Addr = %s, want %s", be.Addr, tc.ip)
			}
		})
	}
}

func TestControl(t *testing.T) {
	g := mustNew(t, false)
	tests := []struct {
		network, address string
		want             string // range name; "" allowed; "!" a non-BlockedError error
	}{
		{"tcp4", "127.0.0.1:80", "loopback"},
		{"tcp4", "10.0.0.5:443", "private"},
		{"tcp6", "[::1]:6379", "loopback"},
		{"tcp6", "[::ffff:169.254.169.254]:80", "link-local"},
		{"tcp6", "[fe80::1%eth0]:80", "link-local"},
		{"tcp6", "[64:ff9b::a00:1]:80", "private"},
		{"tcp4", "8.8.8.8:53", ""},
		{"udp6", "[2606:4700::1111]:443", ""},
		{"ip4:icmp", "127.0.0.1", "loopback"},
		{"ip4:icmp", "1.1.1.1", ""},
		{"tcp", "localhost:80", "!"},
		{"unix", "/run/docker.sock", "!"},
		{"tcp", "", "!"},
	}
	for _, tc := range tests {
		t.Run(tc.network+"/"+tc.address, func(t *testing.T) {
			for name, control := range map[string]func() error{
				"Control": func() error { return g.Control(tc.network, tc.address, nil) },
				"ControlContext": func() error {
					return g.ControlContext(context.Background(), tc.network, tc.address, nil)
				},
			} {
				err := control()
				var be *BlockedError
				var got string
				switch {
				case err == nil:
					got = ""
				case errors.As(err, &be):
					got = be.Range
				default:
					got = "!"
					if !strings.HasPrefix(err.Error(), "netguard: cannot check ") {
						t.Errorf("%s: error %q lacks the netguard prefix", name, err)
					}
				}
				if got != tc.want {
					t.Errorf("%s(%q, %q) = %v: got %q, want %q", name, tc.network, tc.address, err, got, tc.want)
				}
			}
		})
	}
}

// TestDialIntegration dials a real listener on 127.0.0.1 through a
// net.Dialer guarded by Control: refused while loopback is blocked, let
// through with allowCIDRs 127.0.0.0/8.
func TestDialIntegration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}

	blocked := mustNew(t, false)
	opened := mustNew(t, false, "127.0.0.0/8")

	dial := func(g *Guard, address string) error {
		d := &net.Dialer{Timeout: 5 * time.Second, Control: g.Control}
		conn, err := d.DialContext(context.Background(), "tcp", address)
		if err == nil {
			_ = conn.Close()
		}
		return err
	}

	t.Run("dial blocked", func(t *testing.T) {
		err := dial(blocked, addr)
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Fatalf("dial %s: got %v (%T), want a *net.OpError", addr, err, err)
		}
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("dial %s: got %v, want it to wrap a *BlockedError", addr, err)
		}
		if got, want := be.Range, "loopback"; got != want {
			t.Errorf("Range = %q, want %q", got, want)
		}
		if got, want := be.Addr, netip.MustParseAddr("127.0.0.1"); got != want {
			t.Errorf("Addr = %s, want %s", got, want)
		}
	})
	t.Run("dial by name blocked after resolution", func(t *testing.T) {
		// "localhost" resolves to 127.0.0.1 and/or ::1 (from the hosts
		// file); Control sees the resolved literal either way.
		err := dial(blocked, net.JoinHostPort("localhost", port))
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("dial localhost: got %v, want it to wrap a *BlockedError", err)
		}
		if got, want := be.Range, "loopback"; got != want {
			t.Errorf("Range = %q, want %q", got, want)
		}
	})
	t.Run("dial allowed by CIDR", func(t *testing.T) {
		if err := dial(opened, addr); err != nil {
			t.Fatalf("dial %s with 127.0.0.0/8 allowed: %v", addr, err)
		}
	})
	t.Run("dial allowed by ControlContext", func(t *testing.T) {
		d := &net.Dialer{Timeout: 5 * time.Second, ControlContext: opened.ControlContext}
		conn, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		_ = conn.Close()
	})

	get := func(g *Guard) (string, error) {
		d := &net.Dialer{Timeout: 5 * time.Second, Control: g.Control}
		tr := &http.Transport{DialContext: d.DialContext} // no Proxy: dial the server itself
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := client.Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	t.Run("http client blocked", func(t *testing.T) {
		body, err := get(blocked)
		if err == nil {
			t.Fatalf("GET %s: got body %q, want an error", srv.URL, body)
		}
		var urlErr *url.Error
		if !errors.As(err, &urlErr) {
			t.Fatalf("GET: got %v (%T), want a *url.Error", err, err)
		}
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("GET: got %v, want it to wrap a *BlockedError", err)
		}
		if got, want := be.Error(), "blocked address 127.0.0.1 (loopback)"; got != want {
			t.Errorf("BlockedError = %q, want %q", got, want)
		}
	})
	t.Run("http client allowed", func(t *testing.T) {
		body, err := get(opened)
		if err != nil {
			t.Fatalf("GET %s with 127.0.0.0/8 allowed: %v", srv.URL, err)
		}
		if body != "ok" {
			t.Errorf("body = %q, want %q", body, "ok")
		}
	})
}

func TestCheckAllocs(t *testing.T) {
	g := mustNew(t, false, "10.1.0.0/16")
	for _, s := range []string{"8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::8.8.8.8", "10.1.2.3"} {
		ip := netip.MustParseAddr(s)
		if n := testing.AllocsPerRun(100, func() { _ = g.Check(ip) }); n != 0 {
			t.Errorf("Check(%s): %v allocs, want 0", s, n)
		}
	}
	var zero Guard
	ip := netip.MustParseAddr("8.8.8.8")
	if n := testing.AllocsPerRun(100, func() { _ = zero.Check(ip) }); n != 0 {
		t.Errorf("zero Guard Check(%s): %v allocs, want 0", ip, n)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"8.8.8.8", "127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1",
		"::1", "fe80::1", "fd00::1", "2606:4700::1111", "64:ff9b::a00:1",
		"255.255.255.255", "::",
	} {
		b := netip.MustParseAddr(s).As16() // IPv4 as its mapped form
		f.Add(b[:])
	}
	g := mustNew(f, false)
	all := mustNew(f, true)
	var zero Guard
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		for _, guard := range []*Guard{g, &zero} {
			err := guard.Check(ip)
			errU := guard.Check(ip.Unmap())
			if (err == nil) != (errU == nil) {
				t.Fatalf("Check(%s) = %v but Check(%s) = %v", ip, err, ip.Unmap(), errU)
			}
			if err == nil {
				continue
			}
			var be, beU *BlockedError
			if !errors.As(err, &be) || !errors.As(errU, &beU) {
				t.Fatalf("Check(%s) = %v, Check(Unmap) = %v: want *BlockedError", ip, err, errU)
			}
			if be.Range != beU.Range {
				t.Fatalf("Check(%s) range %q, Check(%s) range %q", ip, be.Range, ip.Unmap(), beU.Range)
			}
			// Control on the formatted address agrees with Check.
			cerr := guard.Control("tcp", netip.AddrPortFrom(ip, 80).String(), nil)
			var beC *BlockedError
			if !errors.As(cerr, &beC) || beC.Range != be.Range {
				t.Fatalf("Control(%s) = %v, Check = %v", ip, cerr, err)
			}
		}
		if err := all.Check(ip); err != nil {
			t.Fatalf("allowPrivate Check(%s) = %v", ip, err)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	g := mustNew(b, false, "10.1.0.0/16")
	cases := []struct{ name, ip string }{
		{"public-v4", "93.184.215.14"},
		{"public-v6", "2606:4700::1111"},
		{"mapped-v4", "::ffff:8.8.8.8"},
		{"nat64-public", "64:ff9b::8.8.8.8"},
		{"allowed-cidr", "10.1.2.3"},
		{"blocked-v4", "192.168.1.1"}, // allocates the *BlockedError
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = g.Check(ip)
			}
		})
	}
	b.Run("zero-guard-public-v4", func(b *testing.B) {
		var zero Guard
		ip := netip.MustParseAddr("93.184.215.14")
		b.ReportAllocs()
		for b.Loop() {
			_ = zero.Check(ip)
		}
	})
}
