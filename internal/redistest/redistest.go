// Package redistest starts private redis-server processes for tests: on a
// free loopback port, in a temporary directory, never the system's Redis.
package redistest

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server started by Start.
type Server struct {
	Addr string // host:port on 127.0.0.1
	URL  string // redis://Addr/0
	Dir  string // its working directory (logfile redis.log, any dump or AOF)
}

// Start starts a redis-server on a free port of 127.0.0.1 with no
// snapshots, no AOF and maxmemory-policy noeviction (extra arguments are
// appended and override these), waits until it answers PING and kills it at
// cleanup. A missing redis-server fails the test: CI installs it, so a
// silent skip would hide every Redis test.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found (%v): these tests need it (apt-get install -y redis-server)", err)
	}
	// A free port found by listening may be taken again before
	// redis-server binds it; then redis exits and we try another.
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(tb)
		dir := tb.TempDir()
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log")}, extra...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if waitPing(addr, exited) {
			tb.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return &Server{Addr: addr, URL: "redis://" + addr + "/0", Dir: dir}
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	tb.Fatal("redis-server did not start on any of 5 ports")
	return nil
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPing polls addr with PING for up to 10 s; false if redis exited or
// never answered. Polling is the only signal redis-server gives of being
// ready short of parsing its log.
func waitPing(addr string, exited <-chan error) bool {
	for range 1000 {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
