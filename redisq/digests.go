package redisq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/warc"
)

// digests is the crawl's index of archived payloads (warc.Digests), in
// Redis with the rest of the crawl: shared by every node, so that a
// payload is archived once per crawl, by whichever node claims it first.
// An entry takes about 160 bytes of Redis memory besides its URI (the
// digest, the date and the record id as text, and the hash's overhead):
// MEMORY USAGE measured 243 bytes an entry with 80-byte URIs.
type digests struct{ f *Frontier }

// Digests returns the crawl's index of archived payloads, in Redis and
// shared by every node, for the archive's deduplication
// (warc.Config.Digests): a payload is archived once per crawl.
func (f *Frontier) Digests() warc.Digests { return digests{f} }

// claimDigestScript claims payload digest ARGV[6] for capture ARGV[7] in
// the HASH P d, unless another capture has it. Returns the capture that
// has it, or nil if ARGV[7] does now: a repeat of a claim whose reply was
// lost finds its own capture, and is answered as the first was.
var claimDigestScript = redis.NewScript(prelude + `
local D = P .. 'd'
local v = redis.call('HGET', D, ARGV[6])
if v and v ~= ARGV[7] then return v end
redis.call('HSET', D, ARGV[6], ARGV[7])
return false
`)

// unclaimDigestScript removes digest ARGV[6]'s claim if capture ARGV[7]
// has it.
var unclaimDigestScript = redis.NewScript(prelude + `
local D = P .. 'd'
if redis.call('HGET', D, ARGV[6]) == ARGV[7] then redis.call('HDEL', D, ARGV[6]) end
return 0
`)

// Claim implements warc.Digests, in one script. Transient Redis errors
// are retried, as for Add.
func (d digests) Claim(ctx context.Context, c warc.Capture) (warc.Capture, bool, error) {
	if err := d.f.usable(ctx); err != nil {
		return warc.Capture{}, false, err
	}
	var held string
	err := d.f.retry(ctx, transient, func() error {
		var err error
		held, err = d.f.run(ctx, claimDigestScript, c.Digest, encodeCapture(c)).Text()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return warc.Capture{}, false, nil
	case err != nil:
		return warc.Capture{}, false, fmt.Errorf("redisq: claim digest %s: %w", c.Digest, err)
	}
	orig, err := decodeCapture(held)
	if err != nil {
		return warc.Capture{}, false, fmt.Errorf("redisq: claim digest %s: %w", c.Digest, err)
	}
	orig.Digest = c.Digest
	return orig, true, nil
}

// Unclaim implements warc.Digests.
func (d digests) Unclaim(ctx context.Context, c warc.Capture) error {
	if err := d.f.usable(ctx); err != nil {
		return err
	}
	err := d.f.retry(ctx, transient, func() error {
		return d.f.run(ctx, unclaimDigestScript, c.Digest, encodeCapture(c)).Err()
	})
	if err != nil {
		return fmt.Errorf("redisq: unclaim digest %s: %w", c.Digest, err)
	}
	return nil
}

// encodeCapture is c as the index holds it, but for its digest (the
// field): its date (Unix nanoseconds), record id and URI, a line each. A
// URI holds no line break (it is escaped), nor does a record id.
func encodeCapture(c warc.Capture) string {
	return strconv.FormatInt(c.Date.UnixNano(), 10) + "\n" + c.RecordID + "\n" + c.URI
}

// decodeCapture decodes what encodeCapture encoded.
func decodeCapture(v string) (warc.Capture, error) {
	parts := strings.SplitN(v, "\n", 3)
	if len(parts) != 3 {
		return warc.Capture{}, fmt.Errorf("malformed capture %q", v)
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return warc.Capture{}, fmt.Errorf("malformed capture %q: %w", v, err)
	}
	return warc.Capture{Date: time.Unix(0, ns).UTC(), RecordID: parts[1], URI: parts[2]}, nil
}
