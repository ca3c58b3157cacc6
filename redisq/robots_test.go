package redisq

import (
	"context"
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
