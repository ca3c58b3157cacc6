package main

import (
	"container/heap"
	"time"
)

// lowerBound returns, for each host, the earliest time at which any crawler
// that obeys the per-host politeness of the benchmark could finish it, found by
// simulating an ideal one: each host fetches robots.txt when it is
// discovered, then its pages in the order they were discovered, exactly one
// request per interval and one at a time; each answer takes latency, and the
// links of a page are known when its answer completes. Workers are unlimited.
func lowerBound(seed string, links func(page string) []string, hostOf func(page string) string, interval, latency time.Duration) map[string]time.Duration {
	type host struct {
		queue     []string // "" stands for robots.txt
		lastStart time.Duration
		started   bool
		busy      bool
	}
	hosts := make(map[string]*host)
	known := map[string]bool{seed: true}
	var events eventHeap

	schedule := func(name string, now time.Duration) {
		h := hosts[name]
		if h.busy || len(h.queue) == 0 {
			return
		}
		start := now
		if h.started && h.lastStart+interval > start {
			start = h.lastStart + interval
		}
		h.busy, h.started, h.lastStart = true, true, start
		heap.Push(&events, event{at: start + latency, host: name, page: h.queue[0]})
		h.queue = h.queue[1:]
	}
	discover := func(page string, now time.Duration) {
		name := hostOf(page)
		h, ok := hosts[name]
		if !ok {
			h = &host{queue: []string{""}}
			hosts[name] = h
		}
		h.queue = append(h.queue, page)
		schedule(name, now)
	}

	discover(seed, 0)
	finish := make(map[string]time.Duration)
	for events.Len() > 0 {
		e := heap.Pop(&events).(event)
		finish[e.host] = e.at
		hosts[e.host].busy = false
		if e.page != "" {
			for _, l := range links(e.page) {
				if !known[l] {
					known[l] = true
					discover(l, e.at)
				}
			}
		}
		schedule(e.host, e.at)
	}
	return finish
}

// latest returns the largest finish time of the hosts for which keep is true.
func latest(finish map[string]time.Duration, keep func(host string) bool) time.Duration {
	var end time.Duration
	for host, at := range finish {
		if keep(host) {
			end = max(end, at)
		}
	}
	return end
}

// event is the completion of one simulated request.
type event struct {
	at   time.Duration
	host string
	page string
	seq  int
}

// eventHeap orders completions by time, then by insertion, so the
// simulation is deterministic.
type eventHeap struct {
	items []event
	next  int
}

func (h *eventHeap) Len() int { return len(h.items) }
func (h *eventHeap) Less(i, j int) bool {
	if h.items[i].at != h.items[j].at {
		return h.items[i].at < h.items[j].at
	}
	return h.items[i].seq < h.items[j].seq
}
func (h *eventHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *eventHeap) Push(x any) {
	e := x.(event)
	e.seq = h.next
	h.next++
	h.items = append(h.items, e)
}
func (h *eventHeap) Pop() any {
	e := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return e
}
