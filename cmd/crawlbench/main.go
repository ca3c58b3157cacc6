// The command: its flags, building crawld when none is given, and the run
// of the selected scenarios in order, each row printed as it is measured.

package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crawlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("scenario", "", "run only this scenario ("+strings.Join(scenarioNames(), ", ")+")")
	binary := fs.String("crawld", "", "crawld binary to measure (default: build ./cmd/crawld)")
	runs := fs.Int("runs", 1, "measure each scenario this many times, in rounds, and report the run of median pages/s")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *runs < 1 {
		fmt.Fprintln(stderr, "crawlbench: -runs must be at least 1")
		return 2
	}
	if *only != "" && !slices.Contains(scenarioNames(), *only) {
		fmt.Fprintf(stderr, "crawlbench: unknown scenario %q (%s)\n", *only, strings.Join(scenarioNames(), ", "))
		return 2
	}
	if *binary == "" {
		dir, err := os.MkdirTemp("", "crawlbench")
		if err != nil {
			fmt.Fprintln(stderr, "crawlbench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, "crawld")
		build := exec.CommandContext(ctx, "go", "build", "-o", *binary, "./cmd/crawld")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(stderr, "crawlbench: build crawld:", err)
			return 1
		}
	}
	if *only == scenarioStall {
		return measureStall(ctx, *binary, stdout)
	}
	wide := wideTable(*only)
	header, rule := tableHeader(wide)
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, rule)
	code := 0
	results := map[string]result{}
	var judged []scenario // those with a goal, for the summary
	var chosen []scenario
	for _, sc := range append(hostileScenarios(), scenarios()...) {
		if selected(sc, *only) {
			chosen = append(chosen, sc)
		}
	}
	// Rounds rather than each scenario's runs in a row, so that what the
	// machine does meanwhile (other load, the disk writing back) weighs on
	// every scenario alike, and ratios compare like with like.
	measured := make(map[string][]result, len(chosen))
	for round := range *runs {
		for _, sc := range chosen {
			res, err := measureScenario(ctx, *binary, sc)
			if err != nil {
				fmt.Fprintf(stderr, "crawlbench: %s: %v\n", sc.name, err)
				return 1
			}
			measured[sc.name] = append(measured[sc.name], res)
			if *runs > 1 {
				fmt.Fprintf(stderr, "crawlbench: %s run %d: %.0f pages/s\n", sc.name, round+1, res.pagesPerSecond())
			}
		}
	}
	for _, sc := range chosen {
		res := medianRun(measured[sc.name])
		results[sc.name] = res
		fmt.Fprintln(stdout, res.row(sc, wide, results))
		for i, run := range measured[sc.name] {
			for _, f := range run.failures(sc) {
				fmt.Fprintf(stderr, "crawlbench: %s (run %d): %s\n", sc.name, i+1, f)
				code = 1
			}
		}
		if sc.goal != nil && (sc.goal.min > 0 || sc.goal.max > 0) {
			judged = append(judged, sc)
		}
	}
	if len(judged) > 0 {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, goalSummary(judged, results))
	}
	return code
}

// medianRun is the run of median pages/s among runs (the lower middle one
// of an even number).
func medianRun(runs []result) result {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.pagesPerSecond(), b.pagesPerSecond()) })
	return sorted[(len(sorted)-1)/2]
}
