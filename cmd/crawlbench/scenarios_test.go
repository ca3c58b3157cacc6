// Tests of the scenario table that hold for every scenario, and the helpers
// that read a scenario's crawld flags.

package main

import (
	"slices"
	"strconv"
	"testing"
)

// flagValue returns the value following flag in args, or "" and false.
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// intFlag returns flag's value in args, or def when it is not given.
func intFlag(t *testing.T, args []string, flag string, def int) int {
	t.Helper()
	v, ok := flagValue(args, flag)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s %q: %v", flag, v, err)
	}
	return n
}

func scenarioByName(t *testing.T) map[string]scenario {
	t.Helper()
	byName := map[string]scenario{}
	for _, sc := range scenarios() {
		byName[sc.name] = sc
	}
	return byName
}

func TestScenarioNames(t *testing.T) {
	names := scenarioNames()
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			t.Errorf("scenario %q defined twice", n)
		}
	}
	for _, want := range []string{"hostile", "throughput", "frontier", "frontier-unbounded"} {
		if !slices.Contains(names, want) {
			t.Errorf("no scenario %q in %v", want, names)
		}
	}
}

func TestSelected(t *testing.T) {
	byName := scenarioByName(t)
	for _, tt := range []struct {
		only, name string
		want       bool
	}{
		{"", "politeness", true},
		{"", "throughput", true},
		{"", "cluster-capacity-3", false},
		{"", "frontier", false},
		{"cluster", "throughput", true},
		{"cluster", "cluster-capacity-3", true},
		{"cluster", "politeness", false},
		{"cluster", "frontier", false},
		{"cluster-capacity-3", "cluster-capacity-3", true},
		{"cluster-capacity-3", "cluster-capacity-1", false},
		{"throughput", "throughput", true},
		{"throughput", "cluster-throughput-redis-1", false},
		{"", "cluster-cpu-local", false},
		{"cluster", "cluster-cpu-redis-1", true},
		{"cluster-cpu-local", "cluster-cpu-local", true},
		{"cluster-cpu-local", "cluster-cpu-redis-1", false},
	} {
		if got := selected(byName[tt.name], tt.only); got != tt.want {
			t.Errorf("-scenario %q runs %s: %v, want %v", tt.only, tt.name, got, tt.want)
		}
	}
	if !slices.Contains(scenarioNames(), "cluster") {
		t.Errorf("scenario names %v lack the group", scenarioNames())
	}
	for only, want := range map[string]bool{"": false, "throughput": false, "cluster": true, "cluster-capacity-1": true} {
		if wideTable(only) != want {
			t.Errorf("wideTable(%q) = %v", only, !want)
		}
	}
}
