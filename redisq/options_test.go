package redisq

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/queue"
)

func TestConfigMismatch(t *testing.T) {
	s := startRedis(t)
	openNode(t, s, "cfg", nil)
	_, err := tryOpen(s, "cfg", func(o *Options) { o.ConfigHash = "cfg2" })
	if err == nil || !strings.Contains(err.Error(), "redis crawl cfg was started with a different config (filters/rate); use another crawl_id") {
		t.Fatalf("Open with another hash: %v", err)
	}
	_, err = tryOpen(s, "cfg", func(o *Options) { o.Config.Rate = 2 })
	if err == nil || !strings.Contains(err.Error(), "different config") {
		t.Fatalf("Open with another rate: %v", err)
	}
	openNode(t, s, "cfg2", func(o *Options) { o.ConfigHash = "cfg2" }) // another crawl is free
}

func TestRedisSettingsChecked(t *testing.T) {
	s := startRedis(t)
	var warned []string
	f := openNode(t, s, "w", func(o *Options) { o.Warn = func(w string) { warned = append(warned, w) } })
	if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], "appendonly") || !slices.Equal(w, warned) {
		t.Fatalf("warnings %q, Warn got %q", w, warned)
	}
	if err := s.rdb.ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := tryOpen(s, "w", nil)
	if err == nil || !strings.Contains(err.Error(), "maxmemory-policy is allkeys-lru") || !strings.Contains(err.Error(), "noeviction") {
		t.Fatalf("Open under allkeys-lru: %v", err)
	}
	s.rdb.ConfigSet(context.Background(), "maxmemory-policy", "noeviction")
	s.rdb.ConfigSet(context.Background(), "set-max-intset-entries", "128")
	g := openNode(t, s, "w", nil)
	if w := g.Warnings(); len(w) != 2 || !strings.Contains(w[1], "set-max-intset-entries is 128") {
		t.Fatalf("warnings %q", w)
	}
}

func TestClientChecks(t *testing.T) {
	s := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	defer rdb.Close()
	_, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", rdb })
	if err == nil || !strings.Contains(err.Error(), "MaxRetries: -1") {
		t.Fatalf("Open with a retrying client: %v", err)
	}
	// The cluster client resends a failed command on its redirect
	// attempts too: both must be off.
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.addr}, MaxRetries: -1})
	defer cluster.Close()
	if _, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", cluster }); err == nil || !strings.Contains(err.Error(), "MaxRedirects: -1") {
		t.Fatalf("Open with a cluster client that retries on redirect attempts: %v", err)
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": s.addr}, MaxRetries: -1})
	defer ring.Close()
	if _, err := tryOpen(s, "c", func(o *Options) { o.URL, o.Client = "", ring }); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("Open with a ring client: %v", err)
	}
	ok := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer ok.Close()
	f := openNode(t, s, "c", func(o *Options) { o.URL, o.Client, o.NodeID = "", ok, "n1" })
	mustAdd(t, f, item("h", 1), 0, queue.Added)
	if _, err := tryOpen(s, "c", func(o *Options) { o.NodeID = "n1" }); err == nil || !strings.Contains(err.Error(), "in use by a live node") {
		t.Fatalf("second live n1: %v", err)
	}
	if _, err := tryOpen(s, "c{x}", nil); err == nil {
		t.Fatal("crawl id with braces accepted")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ok.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Close closed the caller's client: %v", err)
	}
}
