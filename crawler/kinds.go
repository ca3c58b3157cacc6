package crawler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/crawld/crawld/internal/netguard"
)

// The kinds of failure a record's error_kind names, and the kind label of
// crawld_errors_total. Each is set where the failure happens, never
// recovered from the error's text.
const (
	// kindDNS: the host's name did not resolve to an address that can be
	// dialled (also when the lookup timed out: the name server, not the
	// host, failed).
	kindDNS = "dns"
	// kindConnect: no connection could be made (refused, unreachable).
	kindConnect = "connect"
	// kindConnectionLost: a connection was made but closed or reset before
	// the whole response arrived.
	kindConnectionLost = "connection_lost"
	// kindTimeout: the connect, the TLS handshake, the headers, the whole
	// fetch or the body's progress ran out of time.
	kindTimeout = "timeout"
	// kindTLS: the TLS handshake failed (an untrusted or invalid
	// certificate, an alert, a server not speaking TLS).
	kindTLS = "tls"
	// kindBlockedAddress: the private-address guard refused the address
	// (allow_private_networks, allow_cidrs).
	kindBlockedAddress = "blocked_address"
	// kindRobots: robots.txt disallows the URL.
	kindRobots = "robots"
	// kindHTTPStatus: the server still answered a retryable status (429,
	// 5xx) after the retries; the record keeps the status.
	kindHTTPStatus = "http_status"
	// kindBodyTooLarge: the body is over max_body, or over all of
	// max_body_memory.
	kindBodyTooLarge = "body_too_large"
	// kindBodyMemory: no room in max_body_memory for the body, however
	// often it was tried (memory held by other fetches, not the host's
	// fault).
	kindBodyMemory = "body_memory"
	// kindHeadersTooLarge: the response headers are over max_header_bytes.
	kindHeadersTooLarge = "headers_too_large"
	// kindRedirect: a redirect chain that ends without a page: a loop,
	// longer than max_redirects, or an unusable Location. One kind for all
	// three (the error tells them apart): none is the target's fault.
	kindRedirect = "redirect"
	// kindFilter: a redirect's target is refused by the filter rules
	// (domains, schemes, extensions, max_url_length, traps).
	kindFilter = "filter"
	// kindHostSetAside: the URL was not requested because its host failed
	// max_host_failures requests in a row.
	kindHostSetAside = "host_set_aside"
	// kindInvalidURL: the URL could not be parsed or requested.
	kindInvalidURL = "invalid_url"
	// kindInternal: handling the URL panicked (a bug in crawld).
	kindInternal = "internal"
	// kindOther: a failure nobody classified; a last resort, so that no
	// error goes uncounted.
	kindOther = "other"
)

// errorKinds returns every kind, in the order they are documented.
func errorKinds() []string {
	return []string{
		kindDNS, kindConnect, kindConnectionLost, kindTimeout, kindTLS, kindBlockedAddress,
		kindRobots, kindHTTPStatus, kindBodyTooLarge, kindBodyMemory, kindHeadersTooLarge,
		kindRedirect, kindFilter, kindHostSetAside, kindInvalidURL, kindInternal, kindOther,
	}
}

// kindError is a record's error with the kind given to it where it happened.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// withKind returns err marked as a failure of that kind.
func withKind(kind string, err error) error {
	return &kindError{kind: kind, err: err}
}

// errorKind returns the kind err was marked with (withKind, the outermost
// mark winning), or kindOther for an error nobody marked.
func errorKind(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return kindOther
}

// fetchKind classifies a failed request by the types in its error chain
// (as the fetcher and http.Client return it): the errors of net/url, net,
// crypto/tls, crypto/x509, the guard and the fetcher.
func fetchKind(err error) string {
	var (
		urlErr  *url.Error
		blocked *netguard.BlockedError
		dnsErr  *net.DNSError
		addrErr *net.AddrError
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &urlErr) && urlErr.Op == "parse":
		return kindInvalidURL
	case errors.As(err, &blocked):
		return kindBlockedAddress
	case errors.Is(err, errBodyTooLarge), errors.Is(err, errBodyOverBudget):
		return kindBodyTooLarge
	case errors.As(err, &dnsErr), errors.As(err, &addrErr):
		// An AddrError is a name that resolved to no address the dialer
		// can use; Go's resolver answers a .onion name (RFC 7686) so.
		return kindDNS
	case tlsFailure(err):
		return kindTLS
	case timeoutError(err), errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return kindConnect
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.As(err, &opErr):
		return kindConnectionLost
	}
	return kindOther
}

// tlsFailure reports whether err is a failed TLS handshake: a certificate
// that does not verify, an alert from the server, or an answer that is not
// TLS at all.
func tlsFailure(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid)
}
