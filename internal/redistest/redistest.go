// Package redistest starts private redis-server processes for tests: on a
// free loopback port, in a temporary directory, never the system's Redis.
//
// A test may stop, kill and restart its server to test how a client rides
// through a Redis restart. The server comes back on the same port, in the
// same directory and with the same arguments, so it reloads what it
// persisted there — which, with Start's defaults (no snapshots, no AOF), is
// nothing: pass persistence arguments, e.g. "--appendonly", "yes",
// "--appendfsync", "everysec", for a restart that keeps the data. Wipe
// empties the directory in between, for a restart that loses everything.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logName is redis-server's log file in Server.Dir.
const logName = "redis.log"

// Server is a redis-server started by Start. Its methods are not meant to
// be called concurrently with each other.
type Server struct {
	Addr string // host:port on 127.0.0.1
	URL  string // redis://Addr/0
	Dir  string // its working directory (logfile redis.log, any dump or AOF)

	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd  // the running process; nil once stopped
	exited chan error // receives cmd's exit, once
}

// Start starts a redis-server on a free port of 127.0.0.1 with no
// snapshots, no AOF and maxmemory-policy noeviction (extra arguments are
// appended and override these), waits until it answers PING and kills it at
// cleanup. A missing redis-server fails the test: CI installs it, so a
// silent skip would hide every Redis test.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s, err := Launch(tb.TempDir(), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Launch is Start outside a test (a benchmark tool): the server works in
// dir, and the caller kills it with Close.
func Launch(dir string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (%w): install it (apt-get install -y redis-server)", err)
	}
	// A free port found by listening may be taken again before
	// redis-server binds it; then redis exits and we try another.
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", filepath.Join(dir, logName)}, extra...)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s := &Server{Addr: addr, URL: "redis://" + addr + "/0", Dir: dir, bin: bin, args: args}
		if err := s.start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		if s.waitUp() {
			return s, nil
		}
		s.Close()
	}
	return nil, errors.New("redis-server did not start on any of 5 ports")
}

// Close kills the server, if it runs, and waits for it to exit.
func (s *Server) Close() { s.signal(os.Kill) }

// start runs the server's process, not waiting for it to answer.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// waitUp waits for the running process to answer PING; false if it exited
// or never answered.
func (s *Server) waitUp() bool {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	return waitPing(s.Addr, exited)
}

// signal sends sig to the running process, if any, and waits for it to
// exit. It reports whether a process was running.
func (s *Server) signal(sig os.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	_ = s.cmd.Process.Signal(sig)
	<-s.exited
	s.cmd, s.exited = nil, nil
	return true
}

// Stop shuts the server down as SHUTDOWN (without arguments) does: it
// sends SIGTERM, on which redis-server flushes and fsyncs its AOF (and
// saves a snapshot if save points were given), and waits for the process
// to exit. It does nothing if the server is not running.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.signal(syscall.SIGTERM)
}

// Kill kills the server with SIGKILL, as a crash would: what the AOF had
// not fsynced yet (up to about a second with appendfsync everysec) is
// lost. It waits for the process to exit, and does nothing if the server is
// not running.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	s.signal(os.Kill)
}

// Pause stops the server's process with SIGSTOP, as a hung machine or a
// stalled disk would: connections stay open and commands are accepted, but
// nothing is answered until Resume, which runs at cleanup too. It does
// nothing if the server is not running.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	tb.Cleanup(s.Resume)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume lets a paused server go on (SIGCONT). It does nothing if the
// server is not running or not paused.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Running reports whether the server's process runs (it may still be
// loading its data).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Restart stops the server if it runs (as Stop), starts it again on the
// same port, in the same directory and with the same arguments, and waits
// until it answers PING, that is until it has loaded what it persisted.
// The data survive only if the server persists them (see the package
// doc). It fails the test if the server does not come back within 10 s,
// with the tail of its log.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop(tb)
	if err := s.start(); err != nil {
		tb.Fatalf("restart redis-server: %v", err)
	}
	if !s.waitUp() {
		s.signal(os.Kill)
		tb.Fatalf("redis-server did not come back on %s; its log ends:\n%s", s.Addr, s.LogTail(20))
	}
}

// Wipe deletes everything the stopped server persisted in Dir (its AOF
// directory, any snapshot), keeping its log, so that Restart brings up an
// empty Redis. It fails the test if the server runs.
func (s *Server) Wipe(tb testing.TB) {
	tb.Helper()
	if s.Running() {
		tb.Fatal("redistest: Wipe of a running server")
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == logName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.Dir, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
}

// LogTail returns the last n lines of the server's log, for failure
// messages.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, logName))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPing polls addr with PING for up to 10 s; false if redis exited or
// never answered. Polling is the only signal redis-server gives of being
// ready short of parsing its log. A server loading its AOF answers
// -LOADING, so a restarted server is up once its data are back.
func waitPing(addr string, exited chan error) bool {
	for range 1000 {
		select {
		case err := <-exited:
			exited <- err // put back for whoever waits for the exit next
			return false
		default:
		}
		if Ping(addr) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Ping reports whether a Redis at addr answers PING with PONG within about
// a second (not while it is still loading its data).
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
