package redisq

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/crawld/crawld/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a redis-server started for one test.
type server struct {
	addr string
	url  string
	rdb  *redis.Client     // for inspecting and poking the server
	rs   *redistest.Server // to stop, kill and restart it
}

// persistent are the arguments of a redis-server whose data survive a
// restart, as crawld's deployment sets them.
var persistent = []string{"--appendonly", "yes", "--appendfsync", "everysec"}

// startRedis starts a private redis-server (see redistest.Start) with a
// client for inspecting it.
func startRedis(tb testing.TB, extra ...string) *server {
	tb.Helper()
	rs := redistest.Start(tb, extra...)
	s := &server{addr: rs.Addr, url: rs.URL, rs: rs}
	s.rdb = redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	tb.Cleanup(func() { _ = s.rdb.Close() })
	return s
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
