package redisq

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/warc"
)

// The digest index is the crawl's, shared by its nodes: claims racing from
// two nodes (two clients of one Redis) have one winner, which every other
// claim gets back whole; a repeated claim of the winner's own capture (a
// retry after a lost reply) is answered as the first; another crawl does
// not see it; an unclaim by another capture than the winner's changes
// nothing, the winner's removes the claim.
func TestDigests_SharedByNodes(t *testing.T) {
	s := startRedis(t)
	a, b := openNode(t, s, "dig", nil), openNode(t, s, "dig", nil)
	other := openNode(t, s, "other-crawl", nil)
	ctx := ctxT(t, 30*time.Second)
	const digest = "sha1:X5SM3XU6U3M4ZDE3ZIYGKZCDA46UFQFI"
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	capture := func(i int) warc.Capture {
		return warc.Capture{URI: fmt.Sprintf("http://127.0.0.2/%d?q=a b", i), Date: at.Add(time.Duration(i)), RecordID: fmt.Sprintf("urn:uuid:%d", i), Digest: digest}
	}
	const n = 16
	won := make(chan warc.Capture, n)
	var wg sync.WaitGroup
	for i := range n {
		node := []*Frontier{a, b}[i%2]
		wg.Go(func() {
			c := capture(i)
			orig, found, err := node.Digests().Claim(ctx, c)
			switch {
			case err != nil:
				t.Error(err)
			case !found:
				won <- c
			case orig.Digest != digest:
				t.Errorf("claim %d found %+v, without the digest", i, orig)
			}
		})
	}
	wg.Wait()
	close(won)
	if len(won) != 1 {
		t.Fatalf("%d claims won, want 1", len(won))
	}
	winner := <-won
	for _, node := range []*Frontier{a, b} {
		orig, found, err := node.Digests().Claim(ctx, capture(100))
		if err != nil || !found || orig != winner {
			t.Errorf("a later claim found %+v, %v (%v), want the winner %+v", orig, found, err, winner)
		}
	}
	if _, found, err := a.Digests().Claim(ctx, winner); err != nil || found {
		t.Errorf("the winner's claim repeated: found %v (%v), want it answered as claimed", found, err)
	}
	if _, found, err := other.Digests().Claim(ctx, capture(200)); err != nil || found {
		t.Errorf("another crawl found the digest claimed (%v)", err)
	}
	if err := b.Digests().Unclaim(ctx, capture(100)); err != nil {
		t.Fatal(err)
	}
	if orig, _, _ := b.Digests().Claim(ctx, capture(101)); orig != winner {
		t.Errorf("after another capture's unclaim the index holds %+v, want the winner", orig)
	}
	if err := b.Digests().Unclaim(ctx, winner); err != nil {
		t.Fatal(err)
	}
	if _, found, err := a.Digests().Claim(ctx, capture(102)); err != nil || found {
		t.Errorf("after the winner's unclaim: found %v (%v), want the digest free", found, err)
	}
}
