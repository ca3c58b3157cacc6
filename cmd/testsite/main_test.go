package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer lets the test read what run wrote while run is still going.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCommandGetsEnv(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(),
		[]string{"-hosts", "3", "-pages", "4", "-latency", "0", "--", "sh", "-c", `echo "$CRAWLD_SEEDS|$CRAWLD_ALLOW_DOMAINS"`},
		nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.2:\d+/\|127\.0\.0\.2 127\.0\.0\.3 127\.0\.0\.4\n$`).MatchString(stdout.String()) {
		t.Errorf("command printed %q", stdout.String())
	}
	seed := strings.SplitN(stdout.String(), "|", 2)[0]
	if !strings.Contains(stderr.String(), "seed: "+seed+"\n") || strings.Count(stderr.String(), "testsite: host ") != 3 {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestExitCodeAndClose checks that the command's exit code comes through
// and that the site is gone once run returns.
func TestExitCodeAndClose(t *testing.T) {
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"-hosts", "1", "--", "sh", "-c", `echo "$CRAWLD_SEEDS"; exit 3`}, nil, &stdout, io.Discard)
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr, Timeout: time.Second}).Get(strings.TrimSpace(stdout.String())); err == nil {
		t.Error("site still serving after run returned")
	}
}

func TestMissingCommand(t *testing.T) {
	if code := run(context.Background(), []string{"-hosts", "1", "--", "/nonexistent/command"}, nil, io.Discard, io.Discard); code != 127 {
		t.Errorf("exit code %d, want 127", code)
	}
}

func TestBadFlags(t *testing.T) {
	if code := run(context.Background(), []string{"-nope"}, nil, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-hosts", "300"}, nil, io.Discard, io.Discard); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

func TestServesUntilCancelled(t *testing.T) {
	robots := filepath.Join(t.TempDir(), "robots.txt")
	if err := os.WriteFile(robots, []byte("User-agent: *\nDisallow: /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-hosts", "2", "-latency", "0", "-robots", robots}, nil, io.Discard, &stderr)
	}()
	seedLine := regexp.MustCompile(`seed: (\S+)\n`)
	var seed string
	for deadline := time.Now().Add(10 * time.Second); seed == ""; {
		if m := seedLine.FindStringSubmatch(stderr.String()); m != nil {
			seed = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no seed line; stderr:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get(seed + "robots.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	if string(body) != "User-agent: *\nDisallow: /\n" {
		t.Errorf("robots.txt = %q", body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestSignalIsForwarded(t *testing.T) {
	// Catch SIGTERM ourselves too, so that the test binary survives the
	// signal it sends itself even before run registers for it.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGTERM)
	defer signal.Stop(caught)

	stdout := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"-hosts", "1", "--", "sh", "-c",
			`trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`}, nil, stdout, io.Discard)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatal("command never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 7 {
			t.Errorf("exit code %d, want 7 (the command's trap)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not exit after SIGTERM")
	}
}
