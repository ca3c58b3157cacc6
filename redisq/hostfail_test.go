package redisq

import (
	"context"
	"testing"

	"github.com/crawld/crawld/queue"
)

// Failures in a row are counted across nodes, and a success on any node,
// carried by the ack of its item, ends the run.
func TestHostFailuresAcrossNodes(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "hostfail", nil), openNode(t, s, "hostfail", nil)
	ctx := context.Background()
	for i, f := range []*Frontier{a, b, a} {
		n, err := f.HostFailed(ctx, "h")
		if err != nil || n != i+1 {
			t.Fatalf("failure %d: %d, %v; want %d", i+1, n, err, i+1)
		}
	}
	if n, err := b.HostFailed(ctx, "other"); err != nil || n != 1 {
		t.Fatalf("another host: %d, %v; want its own count 1", n, err)
	}

	// b succeeds on h: the ack of its item clears the run, for a too.
	mustAdd(t, a, item("h", 1), 0, queue.Added)
	it := mustGet(t, b)
	b.HostSucceeded("h")
	if err := b.Finish(ctx, it); err != nil {
		t.Fatal(err)
	}
	if n, err := a.HostFailed(ctx, "h"); err != nil || n != 1 {
		t.Errorf("after a success: %d, %v; want a new run of 1", n, err)
	}
	if n, err := a.HostFailed(ctx, "other"); err != nil || n != 2 {
		t.Errorf("the other host: %d, %v; want its run untouched (2)", n, err)
	}
	if b.takeClear("h") {
		t.Error("the success was still pending after the ack carried it")
	}
}

// An ack naming the wrong host ends no run of failures.
func TestHostFailuresWrongHostAck(t *testing.T) {
	s := startRedis(t)
	f := openNode(t, s, "hostfail-wrong", nil)
	ctx := context.Background()
	if _, err := f.HostFailed(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, f, item("h", 1), 0, queue.Added)
	it := mustGet(t, f)
	f.HostSucceeded("x")
	if err := f.Finish(ctx, queue.Item{ID: it.ID, Host: "x", URL: it.URL}); err == nil {
		t.Fatal("an ack of host x for a lease of h was accepted")
	}
	if n, err := f.HostFailed(ctx, "x"); err != nil || n != 2 {
		t.Errorf("after a wrong-host ack: %d, %v; want the run going on (2)", n, err)
	}
}
