// Command crawld is a polite web crawler: `crawld crawl` runs one crawl from
// the configured seeds and exits when it is done; `crawld run` is the
// daemon, serving the crawl and an admin API until SIGTERM.
//
// This package is wiring only: it reads flags, CRAWLD_* variables and the
// YAML file, builds the logger, the frontier and the output, and maps the
// outcome to the exit codes of the user-facing contract.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/crawld/crawld/crawler"
	"github.com/crawld/crawld/internal/buildinfo"
)

// Exit codes of the user-facing contract.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code.
// ctx lets tests stop a crawl the way a signal would.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var stopped signalError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &stopped):
		return stopped.code
	case errors.Is(err, context.Canceled):
		return 128 + int(syscall.SIGINT)
	case errors.Is(err, errUsage) || !errors.As(err, new(runtimeError)):
		// Cobra's own errors (unknown flag, missing argument) are usage errors too.
		fmt.Fprintf(stderr, "crawld: %s\n", usageMessage(err))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "crawld: %v\n", err)
		return exitRuntime
	}
}

// signalError reports that a signal stopped the crawl, with the exit code
// 128+signal.
type signalError struct{ code int }

func (e signalError) Error() string { return fmt.Sprintf("stopped by signal (exit %d)", e.code) }

// runtimeError marks a failure of the crawl itself, as opposed to a usage or
// configuration error.
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }
func (e runtimeError) Unwrap() error { return e.err }

// usageMessage drops the errUsage marker from the text shown to the user.
func usageMessage(err error) string {
	msg := err.Error()
	if prefix := errUsage.Error() + ": "; len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "crawld",
		Short:         "crawld is a polite web crawler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)

	crawl := &cobra.Command{
		Use:   "crawl",
		Short: "Crawl from the seeds until the frontier is empty or max_pages is reached",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd.Flags())
			if err != nil {
				return err
			}
			defer limitHeap(s)()
			cpuProfile, _ := cmd.Flags().GetString("cpuprofile")
			memProfile, _ := cmd.Flags().GetString("memprofile")
			stopProfiling, err := startProfiles(cpuProfile, memProfile)
			if err != nil {
				return runtimeError{err}
			}
			stop := &signalStop{}
			ctx := stop.notify(cmd.Context())
			err = crawlOnce(ctx, s, stdout, stderr)
			stop.release()
			if perr := stopProfiling(); err == nil && perr != nil {
				err = runtimeError{perr}
			}
			if code := stop.code(); code != 0 {
				return signalError{code}
			}
			return err
		},
	}
	defineFlags(crawl.Flags())
	crawl.Flags().String("cpuprofile", "", "write a CPU profile of the crawl to this file (go tool pprof)")
	crawl.Flags().String("memprofile", "", "write a heap profile at the end of the crawl to this file (go tool pprof)")
	crawl.Flags().SortFlags = false

	daemon := &cobra.Command{
		Use:   "run",
		Short: "Run the crawler as a service with an admin API, until SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd.Flags())
			if err != nil {
				return err
			}
			defer limitHeap(s)()
			return runDaemon(cmd.Flags(), s, stdout, stderr)
		},
	}
	defineFlags(daemon.Flags())
	daemon.Flags().SortFlags = false

	version := &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), buildinfo.String())
		},
	}
	root.AddCommand(crawl, daemon, version)
	return root
}

// crawlOnce runs one crawl with s, writing records to s.output.
func crawlOnce(ctx context.Context, s settings, stdout, stderr io.Writer) error {
	lvl, _ := parseLevel(s.logLevel)
	log, err := newLogger(zap.NewAtomicLevelAt(lvl), s.logFormat, stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer func() { _ = log.Sync() }()

	out, err := openOutput(s.output, 0, 0, stdout)
	if err != nil {
		return runtimeError{err}
	}
	front, err := openFrontier(ctx, s, storageMemory, log)
	if err != nil {
		_ = out.Close()
		return runtimeError{err}
	}
	defer func() {
		if err := front.Close(); err != nil {
			log.Error("closing store", zap.Error(err))
		}
	}()
	arch, err := openArchive(s, front, storageKind(s, storageMemory) != storageMemory, log)
	if err != nil {
		_ = out.Close()
		return runtimeError{err}
	}
	c, err := crawler.New(s.crawl, front, out.sink(storageKind(s, storageMemory) != storageMemory), log, arch.options()...)
	if err != nil {
		_ = out.Close()
		_ = arch.close(log)
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log.Info("crawl starting", zap.Strings("seeds", s.crawl.Seeds), zap.Int("max_pages", s.crawl.MaxPages),
		zap.Int("workers", s.crawl.Workers), zap.Float64("rate", s.crawl.Rate), zap.String("output", s.output))
	_, err = c.Run(ctx)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if cerr := arch.close(log); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && ctx.Err() == nil && s.warcWACZ {
		err = arch.pack(log)
	}
	if err != nil {
		return runtimeError{err}
	}
	return nil
}

// signalStop turns the first SIGINT or SIGTERM into a cancelled context and
// remembers which signal it was, for the exit code. A second signal gets Go's
// default behaviour (the process dies at once).
type signalStop struct {
	signals chan os.Signal
	done    chan struct{} // closed by release
	stopped chan struct{} // closed when the watching goroutine has ended
	exit    atomic.Int32
}

func (s *signalStop) notify(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	s.signals = make(chan os.Signal, 1)
	s.done = make(chan struct{})
	s.stopped = make(chan struct{})
	signal.Notify(s.signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer close(s.stopped)
		defer cancel()
		select {
		case sig := <-s.signals:
			signal.Stop(s.signals)
			s.exit.Store(int32(128 + sig.(syscall.Signal)))
		case <-s.done:
		}
	}()
	return ctx
}

// code returns 128+signal after a signal stopped the process, else 0.
func (s *signalStop) code() int { return int(s.exit.Load()) }

// release stops watching for signals and waits for the watcher to end.
func (s *signalStop) release() {
	signal.Stop(s.signals)
	close(s.done)
	<-s.stopped
}
