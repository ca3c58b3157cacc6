package queue

import (
	"context"
	"testing"
)

func TestMemory_RevisitNeedsRevisitable(t *testing.T) {
	m := NewMemory(Config{})
	if _, err := m.Add(context.Background(), Item{URL: "http://h/a", Host: "h"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revisit(context.Background()); err == nil {
		t.Error("Revisit without Config.Revisitable succeeded (the URLs were not kept)")
	}
}
