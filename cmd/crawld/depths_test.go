package main

import (
	"testing"

	"github.com/crawld/crawld/crawler"
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
