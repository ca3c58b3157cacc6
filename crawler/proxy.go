package crawler

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/crawld/crawld/internal/netguard"
)

// parseProxy reads Config.Proxy: nil for "" (direct connections), else an
// http:// or https:// proxy URL with a host and nothing after it. Its
// errors never repeat the value, which may hold the proxy's password.
func parseProxy(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, problem("proxy", "not a URL; want http://host:port or https://host:port")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, problem("proxy", "want http://host:port or https://host:port, optionally with user:password@ (got %s)", u.Redacted())
	}
	return u, nil
}

// proxyAddr is the host:port the transport dials to reach proxy, in the
// form net/http builds it (the scheme's port when none is given).
func proxyAddr(proxy *url.URL) string {
	port := proxy.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[proxy.Scheme]
	}
	return net.JoinHostPort(proxy.Hostname(), port)
}

// useProxy sends every request of t through proxy without letting it
// reach what the guard refuses.
//
// Behind a proxy the guard's dial-time check sees only the proxy's
// address, so the target is checked before the request is handed over:
// its host is resolved with lookup (the DNS cache of direct dials, when
// on) and the request fails with the guard's *BlockedError if any address
// is refused; a literal IP is checked as it is. The proxy resolves the
// name again, so a name whose answer changes between the two lookups (DNS
// rebinding) can still reach a refused address: the README says so. With
// allowAll (allow_private_networks) nothing is refused and no lookup is
// made, so a crawler whose only DNS is the proxy's still works.
//
// The proxy's own address is trusted and dialled with trusted, which has
// no guard; any other address is refused, so no request leaves except
// through the proxy.
func useProxy(t *http.Transport, proxy *url.URL, guard *netguard.Guard, allowAll bool,
	lookup func(ctx context.Context, host string) ([]netip.Addr, error), trusted *net.Dialer) {
	t.Proxy = func(req *http.Request) (*url.URL, error) {
		if !allowAll {
			if err := checkTarget(req.Context(), req.URL.Hostname(), guard, lookup); err != nil {
				return nil, err
			}
		}
		return proxy, nil
	}
	addr := proxyAddr(proxy)
	t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		if !strings.EqualFold(address, addr) {
			return nil, fmt.Errorf("proxy: refusing to dial %s: every connection goes to the proxy %s", address, addr)
		}
		return trusted.DialContext(ctx, network, address)
	}
}

// checkTarget resolves host and returns the guard's refusal of the first
// refused address, or the lookup's error.
func checkTarget(ctx context.Context, host string, guard *netguard.Guard,
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		return guard.Check(ip)
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	for _, ip := range addrs {
		if err := guard.Check(ip); err != nil {
			return err
		}
	}
	return nil
}
