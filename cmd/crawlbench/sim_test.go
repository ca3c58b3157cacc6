package main

import (
	"strings"
	"testing"
	"time"
)

func TestLowerBound(t *testing.T) {
	const interval, latency = 250 * time.Millisecond, 50 * time.Millisecond
	hostOf := func(page string) string { h, _, _ := strings.Cut(page, "/"); return h }
	tests := []struct {
		name  string
		graph map[string][]string
		want  time.Duration
	}{
		{
			// robots at 0, a/0 at 250, a/1 at 500, a/2 at 750; the last answer at 800.
			name:  "chain on one host",
			graph: map[string][]string{"a/0": {"a/1"}, "a/1": {"a/2"}},
			want:  800 * time.Millisecond,
		},
		{
			// a/0 answers at 300; b's robots then starts at once, b/0 at 550.
			name:  "second host found through a link",
			graph: map[string][]string{"a/0": {"b/0"}},
			want:  600 * time.Millisecond,
		},
		{
			// a/0's answer (300) reveals a/1..a/3, fetched at 500, 750, 1000.
			name:  "fan-out paced by the interval",
			graph: map[string][]string{"a/0": {"a/1", "a/2", "a/3"}},
			want:  1050 * time.Millisecond,
		},
		{
			// a/1 is known at 300 but the host was idle since 250: it starts at 500, not 300.
			name:  "links back to known pages are not refetched",
			graph: map[string][]string{"a/0": {"a/1", "a/0"}, "a/1": {"a/0"}},
			want:  550 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links := func(p string) []string { return tt.graph[p] }
			finish := lowerBound("a/0", links, hostOf, interval, latency)
			if got := latest(finish, func(string) bool { return true }); got != tt.want {
				t.Errorf("lowerBound = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLowerBound_PerHost(t *testing.T) {
	hostOf := func(page string) string { h, _, _ := strings.Cut(page, "/"); return h }
	graph := map[string][]string{"a/0": {"b/0", "a/1"}}
	finish := lowerBound("a/0", func(p string) []string { return graph[p] }, hostOf, 250*time.Millisecond, 50*time.Millisecond)
	// a: robots 0, a/0 250, a/1 500 (done 550); b found at 300: robots 300, b/0 550 (done 600).
	want := map[string]time.Duration{"a": 550 * time.Millisecond, "b": 600 * time.Millisecond}
	if finish["a"] != want["a"] || finish["b"] != want["b"] || len(finish) != 2 {
		t.Errorf("finish = %v, want %v", finish, want)
	}
	if got := latest(finish, func(h string) bool { return h != "b" }); got != want["a"] {
		t.Errorf("latest without b = %v, want %v", got, want["a"])
	}
}
