package redisq

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a redis-server started for one test.
type server struct {
	addr string
	url  string
	rdb  *redis.Client // for inspecting and poking the server
}

// startRedis starts a private redis-server on a free loopback port, with no
// persistence and noeviction, waits until it answers PING and stops it at
// cleanup. It never falls back to a system Redis.
func startRedis(tb testing.TB, extra ...string) *server {
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
			s := &server{addr: addr, url: "redis://" + addr + "/0"}
			s.rdb = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			tb.Cleanup(func() { _ = s.rdb.Close() })
			return s
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
// never answered.
func waitPing(addr string, exited <-chan error) bool {
	for i := 0; i < 1000; i++ {
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

// openNode opens a Frontier on s with test-friendly timings; mod adjusts
// the options. It is closed at cleanup.
func openNode(tb testing.TB, s *server, crawl string, mod func(*Options)) *Frontier {
	tb.Helper()
	f, err := tryOpen(s, crawl, mod)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

func tryOpen(s *server, crawl string, mod func(*Options)) (*Frontier, error) {
	opts := Options{
		URL:        s.url,
		CrawlID:    crawl,
		ConfigHash: "cfg1",
		Heartbeat:  50 * time.Millisecond,
		DeadAfter:  500 * time.Millisecond,
		Config:     defaultPoliteness,
	}
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Open(ctx, opts)
}
