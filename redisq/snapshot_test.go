package redisq

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crawld/crawld/queue"
)

// waitFor waits until cond holds, failing the test after 30 s (a bound on
// a hang, not what the test asserts).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("still waiting for %s after 30s", what)
		}
	}
}

// Stats and Snapshot serve what the heartbeat read last: /metrics and
// /status call them, and must answer while Redis does not (they used to
// wait on it for up to 10 s, then report an empty frontier).
func TestStatsServedWhileRedisStopped(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "snap", nil)
	mustAdd(t, f, item("h", 0), 0, queue.Added)
	want := freshStats(t, f)
	if want.Queued != 1 {
		t.Fatalf("Stats before the pause = %+v; want Queued 1", want)
	}
	s.rs.Pause(t)
	got := make(chan Snapshot, 1)
	go func() {
		snap := f.Snapshot()
		snap.Stats = f.Stats()
		got <- snap
	}()
	select {
	case snap := <-got:
		s.rs.Resume()
		if snap.Stats != want {
			t.Errorf("Stats while Redis is stopped = %+v; want %+v", snap.Stats, want)
		}
		if !slices.Equal(snap.LiveNodes, []string{f.NodeID()}) || snap.At.IsZero() {
			t.Errorf("Snapshot while Redis is stopped: live nodes %v at %v; want [%s] at the last reading", snap.LiveNodes, snap.At, f.NodeID())
		}
	case <-time.After(60 * time.Second):
		s.rs.Resume()
		t.Fatal("Stats and Snapshot still wait on the stopped Redis after 60s")
	}
}

// Without a fresh reading, Stats and the live nodes follow the cluster at
// the heartbeat's pace: the work one node adds and another finishes, and
// the nodes that join.
func TestStatsFollowHeartbeat(t *testing.T) {
	s := startRedis(t)
	a := openNode(t, s, "follow", nil)
	b := openNode(t, s, "follow", nil)
	mustAdd(t, a, item("h", 0), 0, queue.Added)
	waitFor(t, "b's Stats to count a's item", func() bool {
		st := b.Stats()
		return st.Queued == 1 && st.Seen == 1
	})
	it := mustGet(t, b)
	waitFor(t, "a's Stats to see b's lease", func() bool { return a.Stats().InFlight == 1 })
	b.Done(it) // the heartbeat sends the ack before it reads
	waitFor(t, "b's Stats to count its Done", func() bool {
		st := b.Stats()
		return st.Queued == 0 && st.InFlight == 0 && st.Seen == 1
	})
	waitFor(t, "a's Snapshot to list both nodes", func() bool {
		return slices.Equal(a.Snapshot().LiveNodes, []string{min(a.NodeID(), b.NodeID()), max(a.NodeID(), b.NodeID())})
	})
}

// A control that fails is logged when it fails, with its host and what it
// was, besides being kept for Err: the crawler, which calls it, has no
// result to hear of it by.
func TestControlFailureLogged(t *testing.T) {
	for _, tt := range []struct {
		what string
		call func(f *Frontier)
	}{
		{"set interval", func(f *Frontier) { f.SetInterval(ctxT(t, 30*time.Second), "h.example", time.Minute) }},
		{"block", func(f *Frontier) { f.Block(ctxT(t, 30*time.Second), "h.example", time.Now().Add(time.Minute)) }},
		{"unblock", func(f *Frontier) { f.Unblock(ctxT(t, 30*time.Second), "h.example") }},
	} {
		t.Run(tt.what, func(t *testing.T) {
			s := startRedis(t)
			core, logs := observer.New(zapcore.WarnLevel)
			f := openNode(t, s, "ctl", func(o *Options) {
				o.RetryFor = 100 * time.Millisecond
				o.Logger = zap.New(core)
			})
			s.rs.Kill(t)
			tt.call(f)
			got := logs.FilterField(zap.String("host", "h.example")).FilterField(zap.String("what", tt.what)).All()
			if len(got) != 1 {
				t.Fatalf("log lines of the failed %s: %v; want 1 (all lines: %v)", tt.what, got, logs.All())
			}
			if err, _ := got[0].ContextMap()["error"].(string); err == "" || got[0].Level != zapcore.WarnLevel {
				t.Errorf("log line %q at %v with error %q; want a warning with the error", got[0].Message, got[0].Level, err)
			}
			if f.Err() == nil {
				t.Error("Err() = nil after a failed control; want its error kept too")
			}
		})
	}
}
