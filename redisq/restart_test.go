package redisq

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/crawld/crawld/queue"
)

// The restart scenarios crawl rsHosts hosts paced at rsRate, and one host,
// rsSlow, with a Crawl-delay (SetInterval) longer than Redis takes to come
// back, so that only the quarantine keeps it polite across a restart.
const (
	rsRate    = 5 // starts per host per second
	rsHosts   = 4
	rsPerHost = 12
	rsSlow    = "slow"
	rsSlowIV  = time.Second
	rsSlowN   = 4
	rsTotal   = rsHosts*rsPerHost + rsSlowN
	rsWorkers = 3                     // per node
	rsHold    = 10 * time.Millisecond // a fetch
)

// restartCrawl is two nodes crawling the restart scenarios' hosts as the
// crawler would, with workers that Get, fetch (sleep) and Done.
type restartCrawl struct {
	t     *testing.T
	s     *server
	crawl string
	nodes []*Frontier
	log   claimLog

	events   chan queue.Item // every hand-out, in order
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inFlight atomic.Int64
	warned   atomic.Int64 // restart warnings

	mu      sync.Mutex
	dones   []time.Time // when each Done returned
	getErrs []error     // Get's errors, but the cancellation at the end
}

func newRestartCrawl(t *testing.T, crawl string, mod func(*Options)) *restartCrawl {
	rc := &restartCrawl{t: t, s: startRedis(t, persistent...), crawl: crawl, events: make(chan queue.Item, 10*rsTotal)}
	opts := func(o *Options) {
		o.Config = queue.Config{Rate: rsRate, Burst: 1, PerHostConcurrency: 2}
		o.Warn = func(w string) {
			if strings.Contains(w, "redis restarted") {
				rc.warned.Add(1)
			}
		}
		rc.log.hook(o)
		if mod != nil {
			mod(o)
		}
	}
	rc.nodes = []*Frontier{openNode(t, rc.s, crawl, opts), openNode(t, rc.s, crawl, opts)}
	a := rc.nodes[0]
	a.SetInterval(context.Background(), rsSlow, rsSlowIV)
	for h := range rsHosts {
		for i := range rsPerHost {
			mustAdd(t, a, item(fmt.Sprintf("h%d", h), i), 0, queue.Added)
		}
	}
	for i := range rsSlowN {
		mustAdd(t, a, item(rsSlow, i), 0, queue.Added)
	}
	aofCheckpoint(t, rc.s)
	return rc
}

// start starts the workers.
func (rc *restartCrawl) start() {
	ctx, cancel := context.WithCancel(context.Background())
	rc.cancel = cancel
	rc.t.Cleanup(rc.stop)
	for _, f := range rc.nodes {
		for range rsWorkers {
			rc.wg.Go(func() {
				for {
					it, err := f.Get(ctx)
					if err != nil {
						if ctx.Err() == nil {
							rc.mu.Lock()
							rc.getErrs = append(rc.getErrs, err)
							rc.mu.Unlock()
						}
						return
					}
					rc.inFlight.Add(1)
					select {
					case rc.events <- it:
					case <-ctx.Done():
					}
					time.Sleep(rsHold)
					f.Done(it)
					rc.inFlight.Add(-1)
					rc.mu.Lock()
					rc.dones = append(rc.dones, time.Now())
					rc.mu.Unlock()
				}
			})
		}
	}
}

// stop cancels the workers and waits for them.
func (rc *restartCrawl) stop() {
	if rc.cancel != nil {
		rc.cancel()
	}
	rc.wg.Wait()
}

// await consumes hand-outs until n of them matched pred (nil: any).
func (rc *restartCrawl) await(n int, pred func(queue.Item) bool) {
	rc.t.Helper()
	timeout := time.After(20 * time.Second)
	for n > 0 {
		select {
		case it := <-rc.events:
			if pred == nil || pred(it) {
				n--
			}
		case <-timeout:
			rc.t.Fatalf("still waiting for %d hand-outs after 20s", n)
		}
	}
}

func slowHost(it queue.Item) bool { return it.Host == rsSlow }

// finish waits for every node's Join, then stops the workers.
func (rc *restartCrawl) finish() {
	rc.t.Helper()
	for _, f := range rc.nodes {
		if err := f.Join(ctxT(rc.t, 20*time.Second)); err != nil {
			rc.t.Errorf("Join of %s: %v", f.NodeID(), err)
		}
	}
	rc.stop()
}

// handouts counts how often each URL was handed out; it reports those
// missing (of the scenario's and extra) and returns the number of extra
// hand-outs.
func (rc *restartCrawl) handouts(extra ...string) (dups int, per map[string]int) {
	rc.t.Helper()
	per = map[string]int{}
	for _, it := range rc.log.items {
		per[it.URL]++
	}
	for _, u := range extra {
		if per[u] == 0 {
			rc.t.Errorf("%s never handed out", u)
		}
	}
	for h := range rsHosts {
		for i := range rsPerHost {
			if u := item(fmt.Sprintf("h%d", h), i).URL; per[u] == 0 {
				rc.t.Errorf("%s never handed out", u)
			}
		}
	}
	for i := range rsSlowN {
		if u := item(rsSlow, i).URL; per[u] == 0 {
			rc.t.Errorf("%s never handed out", u)
		}
	}
	for _, n := range per {
		dups += n - 1
	}
	return dups, per
}

// checkPace replays each host's starts (Redis times of the claims) through
// x/time/rate's limiter, and checks no node's Get or Done met an error.
func (rc *restartCrawl) checkPace() {
	rc.t.Helper()
	by := map[string][]int64{}
	for i, it := range rc.log.items {
		by[it.Host] = append(by[it.Host], rc.log.at[i])
	}
	const eps = 5 * time.Microsecond // x/time/rate's float rounding
	for host, ats := range by {
		slices.Sort(ats)
		every := time.Second / rsRate
		if host == rsSlow {
			every = rsSlowIV
		}
		lim := rate.NewLimiter(rate.Every(every), 1)
		for i, at := range ats {
			if !lim.AllowN(time.UnixMicro(at).Add(eps), 1) {
				rc.t.Errorf("host %s: start %d at +%v is early for one start per %v", host, i, time.Duration(at-ats[0])*time.Microsecond, every)
			}
		}
	}
	for _, err := range rc.getErrs {
		rc.t.Errorf("Get: %v", err)
	}
	for _, f := range rc.nodes {
		if err := f.Err(); err != nil {
			rc.t.Errorf("Err of %s: %v", f.NodeID(), err)
		}
	}
}

// checkQuarantine checks that one restart was detected, that its
// quarantine lasted the slow host's interval, and that nothing was handed
// out within it. It returns the quarantine's bounds (Redis µs).
func (rc *restartCrawl) checkQuarantine(down time.Time) (restarted, until int64) {
	rc.t.Helper()
	ctx := ctxT(rc.t, 5*time.Second)
	rdb := redis.NewClient(&redis.Options{Addr: rc.s.addr})
	defer rdb.Close()
	p := "cd:{c:" + rc.crawl + "}:"
	m, err := rdb.HMGet(ctx, p+"meta", "restarted", "qu").Result()
	if err != nil {
		rc.t.Fatal(err)
	}
	restarted, _ = strconv.ParseInt(fmt.Sprint(m[0]), 10, 64)
	until, _ = strconv.ParseInt(fmt.Sprint(m[1]), 10, 64)
	if n, _ := rdb.HGet(ctx, p+"stats", "restarts").Int(); n != 1 {
		rc.t.Errorf("restarts counted %d, want 1", n)
	}
	if restarted < down.UnixMicro() || until-restarted != rsSlowIV.Microseconds() {
		rc.t.Fatalf("quarantine from %d (Redis went down at %d) to +%dµs; want the slow host's interval %v after the restart",
			restarted, down.UnixMicro(), until-restarted, rsSlowIV)
	}
	after := 0
	first := int64(-1)
	for _, at := range rc.log.at {
		if at >= restarted && at < until {
			rc.t.Errorf("claim at +%dµs into the quarantine (%v long)", at-restarted, rsSlowIV)
		}
		if at >= restarted {
			after++
			if first < 0 || at < first {
				first = at
			}
		}
	}
	if after == 0 {
		rc.t.Fatal("nothing handed out after the restart")
	}
	if got := rc.warned.Load(); got != int64(len(rc.nodes)) {
		rc.t.Errorf("%d restart warnings, want one per node (%d)", got, len(rc.nodes))
	}
	rc.t.Logf("restart detected %v after Redis went down; quarantine %v; first claim after it +%v; %d claims after the restart",
		time.Duration(restarted-down.UnixMicro())*time.Microsecond, rsSlowIV, time.Duration(first-until)*time.Microsecond, after)
	return restarted, until
}

// aofCheckpoint makes everything written so far durable: a rewrite of the
// AOF (fsynced), waited for.
func aofCheckpoint(t *testing.T, s *server) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	if err := s.rdb.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		info, err := s.rdb.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			if !strings.Contains(info, "aof_last_bgrewrite_status:ok") {
				t.Fatalf("AOF rewrite failed: %s", info)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal("AOF rewrite not done within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// aofTail returns the AOF file Redis appends to now (the last incr file of
// its manifest) and its size.
func aofTail(t *testing.T, dir string) (string, int64) {
	t.Helper()
	aof := filepath.Join(dir, "appendonlydir")
	b, err := os.ReadFile(filepath.Join(aof, "appendonly.aof.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 6 && f[0] == "file" && f[5] == "i" {
			last = f[1]
		}
	}
	if last == "" {
		t.Fatalf("no incr AOF in the manifest:\n%s", b)
	}
	st, err := os.Stat(filepath.Join(aof, last))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(aof, last), st.Size()
}

// T6a. Redis shut down (SHUTDOWN writes the AOF) while two nodes crawl,
// and back a second later: both ride through with no error, Adds and Puts
// made meanwhile succeed, every item is handed out exactly once (claims,
// acks and Puts whose replies were lost are retried safely), the
// restart's quarantine holds, and every host's starts obey its rate
// across the gap.
func TestRedisShutdownRestart(t *testing.T) {
	rc := newRestartCrawl(t, "shutdown", nil)
	rc.start()
	rc.await(18, nil)
	// New work arrives all along: an Add and a Put every 150ms.
	const late = 10
	var extra []string
	var addErrs []error
	added := make(chan struct{})
	go func() {
		defer close(added)
		f := rc.nodes[1]
		for i := range late {
			if a, err := f.Add(ctxT(t, 20*time.Second), item("late", i), 0); err != nil || a == queue.OverLimit {
				addErrs = append(addErrs, fmt.Errorf("Add: %v, %v", a, err))
			}
			if err := f.Put(ctxT(t, 20*time.Second), item("put", i)); err != nil {
				addErrs = append(addErrs, fmt.Errorf("Put: %v", err))
			}
			extra = append(extra, item("late", i).URL, item("put", i).URL)
			time.Sleep(150 * time.Millisecond) // the pace of new work, not a synchronisation
		}
	}()
	down := time.Now()
	inFlight := rc.inFlight.Load()
	rc.s.rs.Stop(t)
	time.Sleep(time.Second) // Redis down for a second: the scenario, not a synchronisation
	rc.s.rs.Restart(t)
	back := time.Now()
	<-added
	rc.finish()
	t.Logf("down %v; %d items in flight at the shutdown; crawl done %v after the restart",
		back.Sub(down).Round(time.Millisecond), inFlight, time.Since(back).Round(time.Millisecond))
	for _, err := range addErrs {
		t.Error(err)
	}

	dups, _ := rc.handouts(extra...)
	if dups != 0 {
		t.Errorf("%d items handed out twice across a clean shutdown, want 0", dups)
	}
	rc.checkPace()
	rc.checkQuarantine(down)
	for _, f := range rc.nodes {
		if f.Stale() != 0 {
			t.Errorf("%s: %d stale Dones", f.NodeID(), f.Stale())
		}
	}
	if live, err := rc.nodes[0].LiveNodes(ctxT(t, 5*time.Second)); err != nil || len(live) != 2 {
		t.Errorf("LiveNodes after the restart = %v, %v; want both", live, err)
	}
}

// T6b. redis-server killed with SIGKILL, its AOF losing what it wrote
// since a point about a second before (what appendfsync everysec can lose
// on a power cut: the test truncates the AOF there), and restarted on the
// same dir. The nodes ride through; the claims and acks lost with the
// tail are repeated, so items are handed out again, at most those claimed
// or done in the lost window plus those in flight; the slow host, whose
// second start was lost, is started again only after the quarantine, so
// its Crawl-delay holds although its clock went back.
func TestRedisKillRestart(t *testing.T) {
	rc := newRestartCrawl(t, "kill", func(o *Options) { o.LeaseTTL = 1500 * time.Millisecond })
	rc.start()
	rc.await(1, slowHost)
	rc.await(5, nil)
	aof, keep := aofTail(t, rc.s.rs.Dir)
	lostFrom := time.Now()
	rc.await(1, slowHost) // the slow host's second start: lost with the tail
	rc.await(3, nil)
	inFlight := rc.inFlight.Load()
	down := time.Now()
	rc.s.rs.Kill(t)
	_, size := aofTail(t, rc.s.rs.Dir)
	if err := os.Truncate(aof, keep); err != nil {
		t.Fatal(err)
	}
	rc.s.rs.Restart(t)
	back := time.Now()
	rc.finish()

	rc.log.mu.Lock()
	lostClaims := 0
	for _, at := range rc.log.loc {
		if !at.Before(lostFrom) && at.Before(down) {
			lostClaims++
		}
	}
	rc.log.mu.Unlock()
	lostDones := 0
	for _, at := range rc.dones {
		if !at.Before(lostFrom) && at.Before(down) {
			lostDones++
		}
	}
	dups, per := rc.handouts()
	bound := lostClaims + lostDones + int(inFlight)
	t.Logf("AOF cut by %d bytes (%v of writes); down %v; %d duplicates, bound %d (%d claims and %d Dones in the lost window, %d in flight)",
		size-keep, down.Sub(lostFrom).Round(time.Millisecond), back.Sub(down).Round(time.Millisecond), dups, bound, lostClaims, lostDones, inFlight)
	if dups > bound {
		t.Errorf("%d items handed out again, more than the %d claimed, done or in flight in the lost window", dups, bound)
	}
	if u := item(rsSlow, 1).URL; per[u] != 2 {
		t.Errorf("%s handed out %d times; its claim was in the lost tail, so want 2", u, per[u])
	}
	rc.checkPace()
	rc.checkQuarantine(down)
}

// T6c. Redis restarted on an empty dir: every node's Get and Join fail
// with ErrStateLost at once, nothing is handed out again, and nothing is
// written to the empty Redis (no crawl started over from nothing).
func TestRedisRestartEmpty(t *testing.T) {
	rc := newRestartCrawl(t, "empty", nil)
	rc.start()
	rc.await(10, nil)
	rc.s.rs.Stop(t)
	rc.s.rs.Wipe(t)
	rc.s.rs.Restart(t)
	back := time.Now()
	stopped := make(chan struct{})
	go func() {
		rc.wg.Wait() // the workers return on Get's error
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		rc.stop()
		t.Fatal("Gets still running 10s after Redis came back empty")
	}
	t.Logf("every Get returned %v after the restart", time.Since(back).Round(time.Millisecond))
	if len(rc.getErrs) != len(rc.nodes)*rsWorkers {
		t.Errorf("%d Gets failed, want all %d", len(rc.getErrs), len(rc.nodes)*rsWorkers)
	}
	for _, err := range rc.getErrs {
		if !errors.Is(err, ErrStateLost) {
			t.Errorf("Get: %v; want ErrStateLost", err)
		}
	}
	for _, f := range rc.nodes {
		if err := f.Join(ctxT(t, 5*time.Second)); !errors.Is(err, ErrStateLost) {
			t.Errorf("Join: %v; want ErrStateLost", err)
		}
		if _, err := f.Add(ctxT(t, 5*time.Second), item("new", 1), 0); !errors.Is(err, ErrStateLost) {
			t.Errorf("Add: %v; want ErrStateLost", err)
		}
		if err := f.Err(); !errors.Is(err, ErrStateLost) {
			t.Errorf("Err: %v; want ErrStateLost", err)
		}
	}
	for i, at := range rc.log.loc {
		if at.After(back) {
			t.Errorf("%s handed out after the empty restart", rc.log.items[i].URL)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: rc.s.addr})
	defer rdb.Close()
	if n, err := rdb.DBSize(ctxT(t, 5*time.Second)).Result(); err != nil || n != 0 {
		t.Errorf("the empty Redis holds %d keys (%v); the old run's nodes must write nothing", n, err)
	}
}

// T6d. Redis down for longer than RetryFor: Get, Join and Add give up
// after RetryFor with an error wrapping ErrUnavailable (not a hang, not
// ErrStateLost), and the Frontier goes on once Redis is back.
func TestRedisDownLongerThanRetryFor(t *testing.T) {
	s := startRedis(t, persistent...)
	const retryFor = time.Second
	f := openNode(t, s, "down", func(o *Options) { o.RetryFor = retryFor })
	for i := range 3 {
		mustAdd(t, f, item("h", i), 0, queue.Added)
	}
	x := mustGet(t, f)
	aofCheckpoint(t, s)
	s.rs.Stop(t)
	down := time.Now()
	calls := map[string]func() error{
		"Get":  func() error { _, err := f.Get(ctxT(t, 10*time.Second)); return err },
		"Join": func() error { return f.Join(ctxT(t, 10*time.Second)) },
		"Add":  func() error { _, err := f.Add(ctxT(t, 10*time.Second), item("h", 9), 0); return err },
	}
	for _, name := range []string{"Get", "Join", "Add"} {
		start := time.Now()
		err := calls[name]()
		d := time.Since(start)
		t.Logf("%s with Redis down: %v after %v", name, err, d.Round(time.Millisecond))
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrStateLost) || !strings.Contains(err.Error(), "redis unavailable for") {
			t.Errorf("%s: %v; want ErrUnavailable", name, err)
		}
		// Giving up on its own, before the call's 10 s context ends.
		if d < retryFor-50*time.Millisecond || d > retryFor+5*time.Second {
			t.Errorf("%s gave up after %v; RetryFor is %v", name, d, retryFor)
		}
	}
	s.rs.Restart(t)
	t.Logf("Redis was down %v", time.Since(down).Round(time.Millisecond))
	f.Done(x)
	f.Done(mustGet(t, f))
	f.Done(mustGet(t, f))
	if err := f.Join(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.Err(); err != nil {
		t.Fatalf("Err after Redis came back: %v", err)
	}
}

// The heartbeat registers the node again if its entry vanished (a write
// lost with the AOF's tail).
func TestHeartbeatReregisters(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "rereg", nil)
	ctx := ctxT(t, 5*time.Second)
	if err := s.rdb.ZRem(ctx, "cd:{c:rereg}:nodes", f.NodeID()).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		if err := s.rdb.ZScore(ctx, "cd:{c:rereg}:nodes", f.NodeID()).Err(); err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("node not registered again within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Where scripts may not read INFO (an ACL without it), Open warns that
// restarts go unnoticed, and the crawl works without them.
func TestNoRunIDWarns(t *testing.T) {
	s := startRedis(t)
	ctx := ctxT(t, 5*time.Second)
	if err := s.rdb.Do(ctx, "ACL", "SETUSER", "crawl", "on", ">pw", "~*", "&*", "+@all", "-info").Err(); err != nil {
		t.Fatal(err)
	}
	f := openNode(t, s, "noinfo", func(o *Options) { o.URL = "redis://crawl:pw@" + s.addr + "/0" })
	if w := f.Warnings(); len(w) != 2 || !strings.Contains(w[1], "run_id") {
		t.Fatalf("warnings %q; want appendonly's and run_id's", w)
	}
	mustAdd(t, f, item("h", 0), 0, queue.Added)
	f.Done(mustGet(t, f))
	if err := f.Join(ctx); err != nil || f.Err() != nil {
		t.Fatal(err, f.Err())
	}
}
