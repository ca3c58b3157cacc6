// The command: its flags, building crawld when none is given, and the run
// of the selected scenarios in order, each row printed as it is measured.

package main

import (
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
	if err := fs.Parse(args); err != nil {
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
	for _, sc := range append(hostileScenarios(), scenarios()...) {
		if !selected(sc, *only) {
			continue
		}
		res, err := measureScenario(ctx, *binary, sc)
		if err != nil {
			fmt.Fprintf(stderr, "crawlbench: %s: %v\n", sc.name, err)
			return 1
		}
		results[sc.name] = res
		fmt.Fprintln(stdout, res.row(sc, wide, results))
		// The row is printed first so that failing numbers are on record.
		for _, f := range res.failures(sc) {
			fmt.Fprintf(stderr, "crawlbench: %s: %s\n", sc.name, f)
			code = 1
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
