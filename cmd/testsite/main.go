// Command testsite serves crawld's synthetic multi-host test website on
// loopback, either until interrupted or for the lifetime of a command:
//
//	go run ./cmd/testsite [flags] [-- command args...]
//
// With a command, the command runs with CRAWLD_SEEDS set to the seed URL and
// CRAWLD_ALLOW_DOMAINS to the hosts' addresses (and CRAWLD_ALLOW_CIDRS to
// 127.0.0.0/8, which crawld otherwise refuses to connect to), so that
//
//	go run ./cmd/testsite -- go run ./cmd/crawld crawl
//
// crawls the site and nothing else. The exit status is the command's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/crawld/crawld/internal/testsite"
)

// defaultRobots keeps a Disallow rule in the demo so that robots.txt
// handling is visible without any flags.
const defaultRobots = "User-agent: *\nDisallow: /private/\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code, and ctx ending
// stands in for SIGINT/SIGTERM when no command is given, so tests can drive
// it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testsite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: testsite [flags] [-- command args...]")
		fs.PrintDefaults()
	}
	hosts := fs.Int("hosts", 5, "number of hosts, on 127.0.0.2 upwards (at most 250)")
	pages := fs.Int("pages", 20, "pages per host")
	links := fs.Int("links", 3, "random same-host links per page besides the chain link")
	cross := fs.Int("cross-links", 1, "random links per page to other hosts")
	latency := fs.Duration("latency", 20*time.Millisecond, "delay before every response")
	robotsFile := fs.String("robots", "", "file to serve as /robots.txt (default: disallow /private/; an empty file serves 404)")
	seed := fs.Int64("seed", 1, "seed of the link graph")
	decoys := fs.Bool("decoys", true, "add links a crawler must skip or dedupe")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	robots := defaultRobots
	if *robotsFile != "" {
		b, err := os.ReadFile(*robotsFile)
		if err != nil {
			fmt.Fprintln(stderr, "testsite:", err)
			return 1
		}
		robots = string(b)
	}
	site, err := testsite.Start(testsite.Config{
		Hosts:        *hosts,
		PagesPerHost: *pages,
		LinksPerPage: noneIfZero(*links),
		CrossLinks:   noneIfZero(*cross),
		Latency:      *latency,
		Robots:       robots,
		Seed:         *seed,
		Decoys:       *decoys,
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer site.Close()

	for i, h := range site.Hosts() {
		fmt.Fprintf(stderr, "testsite: host %d: http://%s/\n", i, h)
	}
	fmt.Fprintf(stderr, "testsite: %d pages; seed: %s\n", len(site.URLs()), site.SeedURL())

	command := fs.Args()
	if len(command) == 0 {
		<-ctx.Done()
		return 0
	}
	return runCommand(command, []string{
		"CRAWLD_SEEDS=" + site.SeedURL(),
		"CRAWLD_ALLOW_DOMAINS=" + strings.Join(site.Domains(), " "),
		// crawld refuses loopback addresses unless told otherwise.
		"CRAWLD_ALLOW_CIDRS=127.0.0.0/8",
	}, stdin, stdout, stderr)
}

// noneIfZero maps the flag's natural "0 means none" onto Config, where 0
// means "default" and -1 means none.
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// runCommand runs the command with env added and returns its exit code,
// shell style. The signals are forwarded rather than acted on, so that the
// command (a crawler) can shut down gracefully while the site is still up.
func runCommand(command, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsite:", err)
		return 127
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-waited:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &exit):
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return exit.ExitCode()
			default:
				fmt.Fprintln(stderr, "testsite:", err)
				return 1
			}
		}
	}
}
