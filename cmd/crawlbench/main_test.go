package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunRejectsUnknownScenario(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-scenario", "nope", "-crawld", "/nonexistent"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "frontier-unbounded") {
		t.Errorf("stderr does not list the scenarios: %q", stderr.String())
	}
}

func TestRunRejectsNoRuns(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-runs", "0", "-crawld", "/nonexistent"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

// medianRun reports the run of median pages/s, whatever the order the
// runs came in; the lower middle one of an even number.
func TestMedianRun(t *testing.T) {
	runs := func(pages ...int) []result {
		var rs []result
		for _, p := range pages {
			rs = append(rs, result{pages: p, wall: time.Second})
		}
		return rs
	}
	for _, tc := range []struct {
		pages []int
		want  int
	}{
		{[]int{500}, 500},
		{[]int{900, 100, 500}, 500},
		{[]int{300, 100, 400, 200}, 200},
	} {
		if got := medianRun(runs(tc.pages...)); got.pages != tc.want {
			t.Errorf("medianRun of %v pages a second = %d, want %d", tc.pages, got.pages, tc.want)
		}
	}
}
