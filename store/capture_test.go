package store

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crawld/crawld/queue"
	"github.com/crawld/crawld/warc"
)

// A URL's archived capture is kept, whole, across a restart, a capture of
// another URI as well as one of the URL's own; none is reported for an
// unknown URL or once closed, and saving after Close fails.
func TestCapture(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	own := queue.Capture{URI: "https://a/x", Date: at, RecordID: "urn:uuid:1", Digest: "sha1:X"}
	other := queue.Capture{URI: "https://a/original", Date: at.Add(-time.Hour), Digest: "sha1:Y"}
	if _, ok := f.Capture("https://a/x"); ok {
		t.Error("a capture of an unknown URL")
	}
	for u, c := range map[string]queue.Capture{"https://a/x": own, "https://a/y": other} {
		if err := f.SaveCapture(u, c); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, f)
	if _, ok := f.Capture("https://a/x"); ok {
		t.Error("a capture read after Close")
	}
	if err := f.SaveCapture("https://a/x", own); err == nil {
		t.Error("SaveCapture after Close: no error")
	}

	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	for u, want := range map[string]queue.Capture{"https://a/x": own, "https://a/y": other} {
		got, ok := f.Capture(u)
		if !ok || got.URI != want.URI || !got.Date.Equal(want.Date) || got.RecordID != want.RecordID || got.Digest != want.Digest {
			t.Errorf("Capture(%s) after a restart = %+v, %v; want %+v", u, got, ok, want)
		}
	}
}

// The store's digest index survives a restart: a payload archived before
// it is a revisit of that capture after it; claims racing have one
// winner; an unclaim by another capture than the winner's changes
// nothing, the winner's removes the claim.
func TestDigests_SurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir, warcDir := t.TempDir(), t.TempDir()
	body := "<p>archived once</p>"
	write := func(url string) warc.Location {
		t.Helper()
		f := mustOpen(t, dir, unlimited)
		defer mustClose(t, f)
		w, err := warc.Open(warc.Config{Dir: warcDir, Node: "n", Dedupe: true, Digests: f.Digests()})
		if err != nil {
			t.Fatal(err)
		}
		loc, err := w.WriteExchange(ctx, warc.Exchange{URL: url, Date: time.Now().UTC().Round(0), Request: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
			Status: http.StatusOK, Header: http.Header{}, Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return loc
	}
	first := write("https://a/first")
	again := write("https://a/again") // another process, the same data_dir
	if first.Revisit != "" || again.Revisit != warc.RevisitIdentical || again.Original != first.Original {
		t.Fatalf("after a restart: %+v, want an identical-payload revisit of %+v", again, first.Original)
	}

	f := mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	d := f.Digests()
	const n = 64
	won := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, found, err := d.Claim(ctx, warc.Capture{URI: fmt.Sprint("https://b/", i), Date: time.Now(), Digest: "sha1:RACE"})
			if err != nil {
				t.Error(err)
			}
			if !found {
				won <- i
			}
		})
	}
	close(start)
	wg.Wait()
	close(won)
	if len(won) != 1 {
		t.Fatalf("%d racing claims won, want 1", len(won))
	}
	winner := fmt.Sprint("https://b/", <-won)
	orig, found, _ := d.Claim(ctx, warc.Capture{URI: "https://b/late", Date: time.Now(), Digest: "sha1:RACE"})
	if !found || orig.URI != winner || orig.Digest != "sha1:RACE" {
		t.Fatalf("a late claim found %+v (%v), want the winner %s", orig, found, winner)
	}
	if err := d.Unclaim(ctx, warc.Capture{URI: "https://b/late", Date: time.Now(), Digest: "sha1:RACE"}); err != nil {
		t.Fatal(err)
	}
	if orig, _, _ := d.Claim(ctx, warc.Capture{URI: "https://b/x", Digest: "sha1:RACE"}); orig.URI != winner {
		t.Errorf("after another's unclaim the capture is %+v, want the winner's", orig)
	}
	if err := d.Unclaim(ctx, orig); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := d.Claim(ctx, warc.Capture{URI: "https://b/y", Digest: "sha1:RACE"}); found {
		t.Error("the winner's unclaim left its claim")
	}

	// The same once the claims are written (the syncer writes them about
	// once a second, Close at the end): found on disk, and unclaimed there.
	a := warc.Capture{URI: "https://c/a", Date: time.Now().UTC().Round(0), RecordID: "urn:uuid:1", Digest: "sha1:WRITTEN"}
	if _, found, err := d.Claim(ctx, a); found || err != nil {
		t.Fatalf("first claim: found %v, %v", found, err)
	}
	if err := f.writeClaims(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.claiming); n != 0 {
		t.Fatalf("%d claims left unwritten", n)
	}
	if orig, found, _ := d.Claim(ctx, warc.Capture{URI: "https://c/b", Date: time.Now(), Digest: "sha1:WRITTEN"}); !found || orig != a {
		t.Fatalf("a claim after the write found %+v (%v), want %+v", orig, found, a)
	}
	if err := d.Unclaim(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := d.Claim(ctx, warc.Capture{URI: "https://c/c", Digest: "sha1:WRITTEN"}); found {
		t.Error("the unclaim of a written claim left it")
	}
}
