package main

import (
	"os"
	"runtime/debug"
)

// heapHeadroom is what crawld needs besides the frontier's queue: the seen
// set (8-byte fingerprints, about 140 MB at 10 million URLs), the bodies in
// flight (max_body_memory), parse trees and buffers.
const heapHeadroom = 256 << 20

// limitHeap sets the Go runtime's soft memory limit to the frontier's
// memory limit plus heapHeadroom, unless GOMEMLIMIT is set or the frontier
// is unbounded, and returns a function restoring the previous limit.
//
// The frontier keeps its queue's live data to half its limit, the other
// half being the collector's headroom at GOGC=100; a long crawl's seen set
// grows the live heap beyond what that headroom assumes, and the soft limit
// makes the collector run earlier instead of letting the heap double it.
func limitHeap(s settings) (restore func()) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || s.frontierMemory <= 0 {
		return func() {}
	}
	prev := debug.SetMemoryLimit(s.frontierMemory + heapHeadroom)
	return func() { debug.SetMemoryLimit(prev) }
}
