package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/redistest"
	"github.com/crawld/crawld/internal/testsite"
)

// The frontier keeps depths exactly when max_depth makes them matter.
func TestPoliteness_DepthsWithMaxDepth(t *testing.T) {
	cfg := crawler.DefaultConfig()
	if politeness(cfg).Depths {
		t.Error("depths kept without max_depth")
	}
	cfg.MaxDepth = 3
	if !politeness(cfg).Depths {
		t.Error("depths not kept with max_depth 3")
	}
}

// A shared crawl with max_depth keeps depths in Redis too: the crawl is
// created with the max depth its seen members are laid out for.
func TestShared_DepthsWithMaxDepth(t *testing.T) {
	r := redistest.Start(t)
	site := startSite(t, testsite.Config{Hosts: 1, PagesPerHost: 5})
	waitNodes(t, startNodes(t, 1, r, site, "--rate", "0", "--max-depth", "2"), 30*time.Second)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	got, err := rdb.HGet(context.Background(), "cd:{c:t}:meta", "depth").Result()
	if err != nil || got != "2" {
		t.Errorf("the shared crawl's max depth = %q, %v; want 2", got, err)
	}
}
