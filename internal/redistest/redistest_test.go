package redistest

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func client(t *testing.T, s *Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get reads key on a fresh client (the old one's connections died with the
// server): its value, or "" if missing.
func get(t *testing.T, s *Server, key string) string {
	t.Helper()
	v, err := client(t, s).Get(ctxT(t), key).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v
}

func set(t *testing.T, s *Server, key, v string) {
	t.Helper()
	if err := client(t, s).Set(ctxT(t), key, v, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// With an AOF, data survive Stop and Restart, and a Kill of a server that
// fsyncs every write; the server comes back on the same address.
func TestRestartKeepsPersistedData(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	addr := s.Addr
	set(t, s, "k", "v1")
	s.Stop(t)
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the stopped server still accepts connections")
	}
	s.Stop(t) // a no-op when stopped
	s.Restart(t)
	if !s.Running() || s.Addr != addr {
		t.Fatalf("Running %v, Addr %s after Restart; want true, %s", s.Running(), s.Addr, addr)
	}
	if v := get(t, s, "k"); v != "v1" {
		t.Fatalf("after Stop and Restart k = %q, want v1", v)
	}
	set(t, s, "k", "v2")
	s.Kill(t)
	s.Kill(t) // a no-op when stopped
	s.Restart(t)
	if v := get(t, s, "k"); v != "v2" {
		t.Fatalf("after Kill and Restart k = %q, want v2", v)
	}
	s.Restart(t) // stops a running server first
	if v := get(t, s, "k"); v != "v2" {
		t.Fatalf("after Restart of a running server k = %q, want v2", v)
	}
}

// Start's defaults persist nothing: a restart comes back empty.
func TestRestartWithoutPersistence(t *testing.T) {
	s := Start(t)
	set(t, s, "k", "v")
	s.Restart(t)
	if v := get(t, s, "k"); v != "" {
		t.Fatalf("k = %q after a restart without persistence; want it gone", v)
	}
}

// Wipe empties the directory but the log: the restart comes back empty.
func TestWipe(t *testing.T) {
	s := Start(t, "--appendonly", "yes")
	set(t, s, "k", "v")
	s.Stop(t)
	s.Wipe(t)
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != logName {
		t.Fatalf("after Wipe the dir holds %v; want only %s", entries, logName)
	}
	s.Restart(t)
	if v := get(t, s, "k"); v != "" {
		t.Fatalf("k = %q after Wipe; want it gone", v)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "appendonlydir")); err != nil {
		t.Fatalf("the restarted server has no AOF dir: %v", err)
	}
	if tail := s.LogTail(3); tail == "" {
		t.Fatal("empty log tail")
	}
}
