package main

import (
	"net/url"
	"strings"
)

// redactURL returns raw with the password of its userinfo replaced by
// "xxxxx", for logs, errors and /status: a redis.url or proxy may carry
// one. A string that does not parse as a URL is scrubbed by hand.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return scrub(raw, raw)
}

// scrub replaces the password of rawURL's userinfo, as written and
// decoded, wherever it occurs in msg. Errors about a URL (url.Parse's
// among them) repeat it whole, password included.
func scrub(msg, rawURL string) string {
	pw := urlPassword(rawURL)
	if pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if decoded, err := url.PathUnescape(pw); err == nil && decoded != "" {
		msg = strings.ReplaceAll(msg, decoded, "xxxxx")
	}
	return msg
}

// urlPassword returns the password in the userinfo of raw
// ("scheme://user:password@host/…"), found without parsing the whole URL,
// which may be malformed.
func urlPassword(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(authority[:at], ":")
	return pw
}

// redactedError is err with a message scrubbed of a secret; errors.Is and
// errors.As still see err.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
