package warc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nlnwa/gowarc/v3"
)

// archived is one record of a WARC file, as the revisit tests look at it.
type archived struct {
	typ     gowarc.RecordType
	id      string
	h       *gowarc.WarcFields
	block   string // the record's block
	offset  int64
	file    string
	concTo  string
	payload string // the payload, for a response
}

// readAll reads every record of the WARC files in dir under strict
// validation, failing the test on any finding.
func readAll(t *testing.T, dir string) []archived {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc*"))
	var recs []archived
	for _, f := range files {
		err := Each(f, func(rec gowarc.WarcRecord, offset, _ int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s at %d: validation findings %v", filepath.Base(f), offset, findings)
			}
			a := archived{typ: rec.Type(), id: rec.RecordId(), h: rec.WarcHeader(), offset: offset, file: filepath.Base(f),
				concTo: rec.WarcHeader().GetId(gowarc.WarcConcurrentTo)}
			raw, err := rec.Block().RawBytes()
			if err != nil {
				return err
			}
			block, err := io.ReadAll(raw)
			if err != nil {
				return err
			}
			a.block = string(block)
			if hb, ok := rec.Block().(gowarc.HttpResponseBlock); ok {
				p, err := hb.PayloadBytes()
				if err != nil {
					return err
				}
				payload, err := io.ReadAll(p)
				if err != nil {
					return err
				}
				a.payload = string(payload)
			}
			recs = append(recs, a)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func byType(recs []archived, typ gowarc.RecordType) []archived {
	var out []archived
	for _, r := range recs {
		if r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

// K exchanges with one payload, at K URLs, deduplicated: one response
// and K-1 identical-payload-digest revisits, each after its own request
// (WARC-Concurrent-To), each referring to the response (WARC-Refers-To,
// -Target-URI, -Date as the response's WARC-Date), with the payload's
// digest, WARC-Truncated: length and the HTTP headers alone as its block
// (WARC 1.1 §6.7.2); every record valid under strict validation. The
// locations say which record is a revisit and name the original.
func TestWriteExchange_IdenticalPayloadRevisits(t *testing.T) {
	const k = 5
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true, Dedupe: true})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("the same page ", 50)
	var locs []Location
	for i := range k {
		ex := exchange(fmt.Sprintf("http://127.0.0.2:8080/copy/%d", i), body, false)
		ex.Date = ex.Date.Add(time.Duration(i)*time.Second + 123456789) // sub-second precision survives the reference
		loc, err := w.WriteExchange(t.Context(), ex)
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, loc)
	}
	other, err := w.WriteExchange(t.Context(), exchange("http://127.0.0.2:8080/other", "another page", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	recs := readAll(t, dir)
	responses, revisits := byType(recs, gowarc.Response), byType(recs, gowarc.Revisit)
	if len(responses) != 2 || len(revisits) != k-1 {
		t.Fatalf("%d responses and %d revisits, want 2 (the first copy, the other page) and %d", len(responses), len(revisits), k-1)
	}
	orig := responses[0]
	if orig.h.Get(gowarc.WarcTargetURI) != "http://127.0.0.2:8080/copy/0" || orig.payload != body {
		t.Fatalf("the response kept is of %s with %d bytes, want the first copy's %d", orig.h.Get(gowarc.WarcTargetURI), len(orig.payload), len(body))
	}
	requests := make(map[string]bool)
	for _, r := range byType(recs, gowarc.Request) {
		requests[r.id] = true
	}
	for i, r := range revisits {
		h := r.h
		want := map[string]string{
			gowarc.WarcTargetURI:         fmt.Sprintf("http://127.0.0.2:8080/copy/%d", i+1),
			gowarc.WarcProfile:           "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
			gowarc.WarcRefersToTargetURI: orig.h.Get(gowarc.WarcTargetURI),
			gowarc.WarcRefersToDate:      orig.h.Get(gowarc.WarcDate),
			gowarc.WarcPayloadDigest:     sha1Base32([]byte(body)),
			gowarc.WarcTruncated:         "length",
			gowarc.ContentType:           "application/http;msgtype=response",
		}
		for field, v := range want {
			if got := h.Get(field); got != v {
				t.Errorf("revisit %d: %s %q, want %q", i, field, got, v)
			}
		}
		if got := h.GetId(gowarc.WarcRefersTo); got != orig.id {
			t.Errorf("revisit %d refers to record %q, want the response %q", i, got, orig.id)
		}
		if !requests[r.concTo] {
			t.Errorf("revisit %d concurrent to %q, not a request record", i, r.concTo)
		}
		if !strings.HasPrefix(r.block, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(r.block, "\r\n\r\n") || strings.Contains(r.block, "the same page") {
			t.Errorf("revisit %d block %q, want the HTTP headers alone", i, r.block)
		}
		if loc := locs[i+1]; loc.Revisit != RevisitIdentical || loc.Offset != r.offset || loc.File != r.file || loc.Digest != sha1Base32([]byte(body)) {
			t.Errorf("location %d %+v, want the revisit at %s:%d", i+1, loc, r.file, r.offset)
		}
	}
	if loc := locs[0]; loc.Revisit != "" || loc.Original.URI != orig.h.Get(gowarc.WarcTargetURI) || loc.Original.RecordID != orig.id {
		t.Errorf("first location %+v, want a response that is its own original", loc)
	}
	if loc := locs[1]; loc.Original != locs[0].Original {
		t.Errorf("a revisit's original %+v, want the response's %+v", loc.Original, locs[0].Original)
	}
	if other.Revisit != "" {
		t.Errorf("another payload written as a %s revisit", other.Revisit)
	}
}

// Workers deduplicating at once: each payload is stored once, every other
// exchange of it a revisit that follows its original in the files (which
// a crash could otherwise leave referring to nothing), and the race
// detector finds no race in building revisits outside the writer's lock.
func TestWriteExchange_ConcurrentDedupe(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true, MaxSize: 8 << 10, Dedupe: true})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each, payloads = 16, 24, 3
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				body := strings.Repeat(fmt.Sprint(j%payloads), 300)
				if _, err := w.WriteExchange(t.Context(), exchange(fmt.Sprintf("http://127.0.0.2/%d/%d", i, j), body, false)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, dir)
	if n, m := len(byType(recs, gowarc.Response)), len(byType(recs, gowarc.Revisit)); n != payloads || m != workers*each-payloads {
		t.Errorf("%d responses and %d revisits, want %d and %d", n, m, payloads, workers*each-payloads)
	}
	written := map[string]bool{} // the responses so far, in file order
	for _, r := range recs {
		switch r.typ {
		case gowarc.Response:
			written[r.id] = true
		case gowarc.Revisit:
			if of := r.h.GetId(gowarc.WarcRefersTo); !written[of] {
				t.Errorf("revisit %s in %s at %d comes before its original %s", r.id, r.file, r.offset, of)
			}
		}
	}
}

// Without Dedupe every response is written in full, a 304 included.
func TestWriteExchange_NoDedupe(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := w.WriteExchange(t.Context(), exchange(fmt.Sprintf("http://127.0.0.2/%d", i), "same", false)); err != nil {
			t.Fatal(err)
		}
	}
	notModified := exchange("http://127.0.0.2/0", "", false)
	notModified.Status, notModified.Previous = http.StatusNotModified, Capture{URI: "http://127.0.0.2/0", Date: time.Now()}
	if _, err := w.WriteExchange(t.Context(), notModified); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, dir)
	if n := len(byType(recs, gowarc.Response)); n != 4 || len(byType(recs, gowarc.Revisit)) != 0 {
		t.Errorf("%d responses, %d revisits; want 4 and none", n, len(byType(recs, gowarc.Revisit)))
	}
}

// A 304 for a URL whose capture is known (Exchange.Previous) is a
// server-not-modified revisit (WARC 1.1 §6.7.3) referring to it, with
// the original's payload digest, the 304's headers as its block and
// nothing marked truncated; without a known capture, or without a
// digest, it says no more than it knows. Empty payloads and truncated
// ones are never deduplicated.
func TestWriteExchange_ServerNotModified(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Dedupe: true})
	if err != nil {
		t.Fatal(err)
	}
	first := exchange("http://127.0.0.2/page", "<p>unchanged</p>", false)
	first.Header.Set("ETag", `"v1"`)
	loc, err := w.WriteExchange(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	again := exchange("http://127.0.0.2/page", "", false)
	again.Date = first.Date.Add(time.Hour)
	again.Status, again.Header, again.Previous = http.StatusNotModified, http.Header{"Etag": {`"v1"`}}, loc.Original
	rloc, err := w.WriteExchange(t.Context(), again)
	if err != nil {
		t.Fatal(err)
	}
	noDigest := again
	noDigest.Previous.Digest, noDigest.Previous.RecordID = "", ""
	if _, err := w.WriteExchange(t.Context(), noDigest); err != nil {
		t.Fatal(err)
	}
	unknown := again
	unknown.Previous = Capture{}
	uloc, err := w.WriteExchange(t.Context(), unknown)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range []Exchange{exchange("http://127.0.0.2/e1", "", false), exchange("http://127.0.0.2/e2", "", false),
		exchange("http://127.0.0.2/t1", "cut", true), exchange("http://127.0.0.2/t2", "cut", true)} {
		if l, err := w.WriteExchange(t.Context(), ex); err != nil || l.Revisit != "" {
			t.Errorf("%s: %v, %+v; want a response", ex.URL, err, l)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	if rloc.Revisit != RevisitNotModified || rloc.Original != loc.Original || rloc.Digest != loc.Digest {
		t.Errorf("304 location %+v, want a server-not-modified revisit of %+v", rloc, loc.Original)
	}
	if uloc.Revisit != "" {
		t.Errorf("304 with nothing archived before written as a %s revisit", uloc.Revisit)
	}
	recs := readAll(t, dir)
	revisits := byType(recs, gowarc.Revisit)
	if len(revisits) != 2 {
		t.Fatalf("%d revisits, want 2", len(revisits))
	}
	orig := byType(recs, gowarc.Response)[0]
	r := revisits[0]
	want := map[string]string{
		gowarc.WarcProfile:           "http://netpreserve.org/warc/1.1/revisit/server-not-modified",
		gowarc.WarcRefersToTargetURI: "http://127.0.0.2/page",
		gowarc.WarcRefersToDate:      orig.h.Get(gowarc.WarcDate),
		gowarc.WarcPayloadDigest:     sha1Base32([]byte("<p>unchanged</p>")),
		gowarc.WarcTruncated:         "",
	}
	for field, v := range want {
		if got := r.h.Get(field); got != v {
			t.Errorf("server-not-modified revisit: %s %q, want %q", field, got, v)
		}
	}
	if got := r.h.GetId(gowarc.WarcRefersTo); got != orig.id {
		t.Errorf("refers to record %q, want the original %q", got, orig.id)
	}
	if !strings.HasPrefix(r.block, "HTTP/1.1 304 Not Modified\r\n") || !strings.Contains(r.block, `Etag: "v1"`) {
		t.Errorf("block %q, want the 304's headers", r.block)
	}
	if h := revisits[1].h; h.Has(gowarc.WarcPayloadDigest) || h.Has(gowarc.WarcRefersTo) || h.Get(gowarc.WarcRefersToTargetURI) != "http://127.0.0.2/page" {
		t.Errorf("revisit of a capture without digest or id: %v", h)
	}
	if n := len(byType(recs, gowarc.Response)); n != 6 {
		t.Errorf("%d responses, want 6 (the original, the 304 with nothing before, the empty and the truncated pages)", n)
	}
}

// Writers sharing one index (nodes sharing a crawl) archive a payload
// once between them: the first exchange is a response, every later one,
// in either writer's files, a revisit of it. (The writers take turns: two
// Writers in one process would race in gowarc's record builders; the
// claims' own race is TestMemoryDigests_RacingClaims's.)
func TestWriteExchange_WritersSharingAnIndexStoreOnce(t *testing.T) {
	digests := NewMemoryDigests()
	dirs := []string{t.TempDir(), t.TempDir()}
	var writers []*Writer
	for i, dir := range dirs {
		w, err := Open(Config{Dir: dir, Node: fmt.Sprint(i), Dedupe: true, Digests: digests})
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
	}
	const each = 4
	for j := range each {
		for i, w := range writers {
			if _, err := w.WriteExchange(t.Context(), exchange(fmt.Sprintf("http://127.0.0.2/%d/%d", i, j), "one payload", false)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var responses, revisits int
	for i, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		recs := readAll(t, dirs[i])
		responses += len(byType(recs, gowarc.Response))
		revisits += len(byType(recs, gowarc.Revisit))
	}
	if responses != 1 || revisits != 2*each-1 {
		t.Errorf("%d responses and %d revisits, want 1 and %d", responses, revisits, 2*each-1)
	}
}

// Claims of one digest racing: exactly one wins, and every other gets the
// winner back.
func TestMemoryDigests_RacingClaims(t *testing.T) {
	m := NewMemoryDigests()
	const n = 16
	digest := sha1Base32([]byte("one payload"))
	won := make([]bool, n)
	got := make([]Capture, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			orig, found, err := m.Claim(t.Context(), Capture{URI: fmt.Sprintf("http://127.0.0.2/%d", i), Date: time.Now(), Digest: digest})
			if err != nil {
				t.Error(err)
			}
			won[i], got[i] = !found, orig
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		if won[i] {
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}
	for i := range n {
		if !won[i] && got[i].URI != fmt.Sprintf("http://127.0.0.2/%d", winner) {
			t.Errorf("claim %d found %q, want the winner's", i, got[i].URI)
		}
	}
}

// A response that could not be written gives up its claim: the payload's
// next capture is written in full instead of referring to nothing.
func TestWriteExchange_FailedWriteUnclaims(t *testing.T) {
	digests := NewMemoryDigests()
	broken, err := Open(Config{Dir: t.TempDir(), Node: "a", Dedupe: true, Digests: digests})
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := broken.WriteExchange(t.Context(), exchange("http://127.0.0.2/lost", "payload", false)); err == nil {
		t.Fatal("a closed writer wrote")
	}
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "b", Dedupe: true, Digests: digests})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := w.WriteExchange(t.Context(), exchange("http://127.0.0.2/kept", "payload", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if loc.Revisit != "" {
		t.Errorf("written as a %s revisit of %+v, a capture never archived", loc.Revisit, loc.Original)
	}
}

// MemoryDigests: the first claim of a digest wins and is returned, whole,
// to the later ones; an unclaim by another capture than the winner's
// changes nothing; digests in another form than sha1:BASE32 are told
// apart too.
func TestMemoryDigests(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryDigests()
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	first := Capture{URI: "http://127.0.0.2/a", Date: at, RecordID: "urn:uuid:0c0828e3-b084-49b2-bc84-ef7e217e16bd", Digest: sha1Base32([]byte("a"))}
	if _, found, err := m.Claim(ctx, first); found || err != nil {
		t.Fatalf("first claim: found %v, %v", found, err)
	}
	second := Capture{URI: "http://127.0.0.2/b", Date: at.Add(time.Second), Digest: first.Digest}
	orig, found, err := m.Claim(ctx, second)
	if !found || err != nil || orig.URI != first.URI || !orig.Date.Equal(first.Date) || orig.RecordID != first.RecordID || orig.Digest != first.Digest {
		t.Fatalf("second claim: %+v, %v, %v; want found %+v", orig, found, err, first)
	}
	if err := m.Unclaim(ctx, second); err != nil || m.Len() != 1 {
		t.Errorf("an unclaim by the loser removed the winner (%v, %d left)", err, m.Len())
	}
	for _, d := range []string{"md5:abc", "md5:abd", "sha1:NOTBASE32!"} {
		if _, found, _ := m.Claim(ctx, Capture{URI: "http://127.0.0.2/" + d, Date: at, Digest: d}); found {
			t.Errorf("%s: found before it was claimed", d)
		}
	}
	if err := m.Unclaim(ctx, first); err != nil || m.Len() != 3 {
		t.Errorf("the winner's unclaim: %v, %d left, want 3", err, m.Len())
	}
	if _, found, _ := m.Claim(ctx, second); found {
		t.Error("claimed after the unclaim: found the unclaimed capture")
	}
}

// BenchmarkMemoryDigests claims b.N distinct payloads with URIs of 80
// bytes, and reports the index's bytes per entry (heap in use after a
// collection, divided by the entries).
func BenchmarkMemoryDigests(b *testing.B) {
	ctx := context.Background()
	uri := "http://www.example.com/" + strings.Repeat("p", 80-len("http://www.example.com/")-8)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMemoryDigests()
	at := time.Now()
	b.ResetTimer()
	for i := range b.N {
		c := Capture{URI: fmt.Sprintf("%s%08d", uri, i), Date: at, RecordID: uuid.UUID([16]byte(fmt.Appendf(nil, "%016d", i))).URN(), Digest: sha1Base32(fmt.Append(nil, i))}
		if _, found, err := m.Claim(ctx, c); found || err != nil {
			b.Fatal(found, err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "bytes/entry")
	runtime.KeepAlive(m)
}

// BenchmarkWriteExchange_Dedupe writes exchanges of distinct 64 KiB payloads,
// with and without Dedupe (a claim in the index for each, with the digest
// gowarc computed), and with Dedupe of one payload (every exchange but the
// first a revisit, which is not compressed with the payload).
func BenchmarkWriteExchange_Dedupe(b *testing.B) {
	body := []byte(strings.Repeat("<p>crawld archives what it fetches</p>\n", 64<<10/40))
	for _, bc := range []struct {
		name          string
		dedupe, alike bool
	}{{"full", false, false}, {"dedupe", true, false}, {"revisits", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := Open(Config{Dir: b.TempDir(), Node: "n", Compress: true, Dedupe: bc.dedupe})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			for i := range b.N {
				ex := exchange(fmt.Sprintf("http://127.0.0.2/%d", i), "", false)
				ex.Body = body
				if !bc.alike {
					ex.Body = fmt.Appendf(append([]byte(nil), body...), "%d", i)
				}
				if _, err := w.WriteExchange(b.Context(), ex); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
