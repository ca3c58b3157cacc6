package redisq

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

func TestRobotsSharedBetweenNodes(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "robots", nil), openNode(t, s, "robots", nil)
	other := openNode(t, s, "other-crawl", nil)
	ctx := context.Background()
	const authority = "https://example.test:8443"

	if data, ttl, err := b.LoadRobots(ctx, authority); err != nil || data != nil || ttl != 0 {
		t.Fatalf("before any save: %q %v %v, want nothing", data, ttl, err)
	}
	body := []byte("r 0 0\nUser-agent: *\nDisallow: /private\n")
	if err := a.SaveRobots(ctx, authority, body, time.Hour); err != nil {
		t.Fatal(err)
	}
	data, ttl, err := b.LoadRobots(ctx, authority)
	if err != nil || string(data) != string(body) || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("other node loads %q for %v (%v), want what was saved for about an hour", data, ttl, err)
	}
	if data, _, err := other.LoadRobots(ctx, authority); err != nil || data != nil {
		t.Errorf("another crawl loads %q (%v), want nothing: crawls do not share rules", data, err)
	}

	// Expiry is Redis's: once the TTL passes, nothing is returned.
	if err := a.SaveRobots(ctx, authority, []byte("a 0 0\n"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, ttl, err := b.LoadRobots(ctx, authority)
		if err != nil {
			t.Fatal(err)
		}
		if data == nil {
			break
		}
		if ttl > 50*time.Millisecond || time.Now().After(deadline) {
			t.Fatalf("loads %q for %v after a 50 ms save", data, ttl)
		}
		time.Sleep(10 * time.Millisecond) // polling Redis's own expiry; nothing to wait on
	}
}

// The shared robots.txt outcomes are bounded in Redis: each expires
// within MaxRobotsTTL whatever TTL it is saved with, one larger than
// MaxRobotsEntry is not stored (and removes the authority's older one),
// and together they stay within RobotsMemory, the entries closest to
// expiring making room; an expired entry's bytes are freed.
func TestRobotsBounded(t *testing.T) {
	s := startRedis(t)
	const budget = 24 << 10
	f := openNode(t, s, "rbound", func(o *Options) { o.RobotsMemory = budget })
	ctx := ctxT(t, 30*time.Second)
	const p = "cd:{c:rbound}:"
	auth := func(i int) string { return fmt.Sprintf("https://h%d.test", i) }
	body := bytes.Repeat([]byte("Disallow: /x\n"), 4<<10/13)

	// Ten 4 KiB entries, each to expire later than the one before, under
	// a 24 KiB budget; saved with TTLs beyond MaxRobotsTTL.
	for i := range 10 {
		if err := f.SaveRobots(ctx, auth(i), body, 48*time.Hour+time.Duration(i)*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.rdb.Keys(ctx, p+"r:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	for _, k := range keys {
		n, _ := s.rdb.StrLen(ctx, k).Result()
		held += n
		if ttl := s.rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > MaxRobotsTTL {
			t.Errorf("%s expires in %v; want within %v", k, ttl, MaxRobotsTTL)
		}
	}
	charged := stat(t, s, "rbound", "robots")
	t.Logf("%d of 10 entries kept, %d bytes of data, %d charged, budget %d", len(keys), held, charged, budget)
	if held > budget || charged > budget || len(keys) == 0 {
		t.Fatalf("%d entries hold %d bytes (%d charged); want within the %d budget", len(keys), held, charged, budget)
	}
	for i := range 10 {
		data, _, err := f.LoadRobots(ctx, auth(i))
		if err != nil {
			t.Fatal(err)
		}
		if kept := i >= 10-len(keys); kept != (data != nil) {
			t.Errorf("%s kept %v; want the entries expiring last kept", auth(i), data != nil)
		}
	}

	// Too large to share: not stored, and the older outcome goes.
	if err := f.SaveRobots(ctx, auth(9), bytes.Repeat([]byte("#"), MaxRobotsEntry+1), time.Hour); err != nil {
		t.Fatal(err)
	}
	if data, _, err := f.LoadRobots(ctx, auth(9)); err != nil || data != nil {
		t.Fatalf("after an outcome over MaxRobotsEntry, %s loads %d bytes (%v); want none", auth(9), len(data), err)
	}

	// An expired entry's bytes are freed by the next save.
	if err := f.SaveRobots(ctx, "https://brief.test", body, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for s.rdb.Exists(ctx, p+"r:https://brief.test").Val() == 1 {
		if ctx.Err() != nil {
			t.Fatal("a 1 ms entry still there after 30s")
		}
		time.Sleep(5 * time.Millisecond) // polling Redis's own expiry; nothing to wait on
	}
	for i := range 10 {
		if err := f.SaveRobots(ctx, auth(i), nil, time.Hour); err != nil { // removes what is left
			t.Fatal(err)
		}
	}
	if n := stat(t, s, "rbound", "robots"); n != 0 {
		t.Errorf("%d bytes charged with every entry removed or expired; want 0", n)
	}
	if n := s.rdb.ZCard(ctx, p+"rx").Val() + s.rdb.HLen(ctx, p+"rs").Val(); n != 0 {
		t.Errorf("the index keeps %d members with no entry left", n)
	}
}
