package warc

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exchange is a 200 of url with body, cut at a size limit if truncated.
func exchange(url, body string, truncated bool) Exchange {
	reason := ""
	if truncated {
		reason = TruncatedLength
	}
	return Exchange{
		URL:       url,
		Date:      time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		IP:        "127.0.0.2",
		Protocol:  "http/1.1",
		Request:   []byte("GET " + url[strings.Index(url[8:], "/")+8:] + " HTTP/1.1\r\nHost: 127.0.0.2\r\nUser-Agent: crawld-test\r\n\r\n"),
		Status:    http.StatusOK,
		Header:    http.Header{"Content-Type": {"text/html"}, "Transfer-Encoding": {"chunked"}},
		Body:      []byte(body),
		Truncated: reason,
	}
}

func sha1Base32(b []byte) string {
	sum := sha1.Sum(b)
	return "sha1:" + base32.StdEncoding.EncodeToString(sum[:])
}

// Exchanges written and read back with gowarc's strict validation: no
// finding; a warcinfo record first; each response after its request,
// linked to it; the payload the bytes given, its digest their SHA-1; the
// returned location opening the response record; the file complete (no
// .open) and named prefix-timestamp-serial-node.
func TestWriteExchange_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Prefix: "test", Node: "node/1", Compress: true, Software: "crawld/test",
		Info: [][2]string{{"robots", "obey"}}})
	if err != nil {
		t.Fatal(err)
	}
	cut := exchange("http://127.0.0.2:8080/cut", "half a pa", false)
	cut.Truncated = TruncatedDisconnect // the connection failed while the body was read
	pages := []Exchange{
		exchange("http://127.0.0.2:8080/", "<a href=/a>a</a>", false),
		exchange("http://127.0.0.2:8080/big", strings.Repeat("x", 1000), true),
		cut,
	}
	var locs []Location
	for _, ex := range pages {
		loc, err := w.WriteExchange(t.Context(), ex)
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, loc)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !regexp.MustCompile(`/test-\d{17}-00001-node_1\.warc\.gz$`).MatchString(files[0]) {
		t.Fatalf("files %v, want one test-TIMESTAMP-00001-node_1.warc.gz", files)
	}
	for i, loc := range locs {
		if loc.File != filepath.Base(files[0]) {
			t.Errorf("location %d names %q, want %q", i, loc.File, filepath.Base(files[0]))
		}
		if want := sha1Base32(pages[i].Body); loc.Digest != want {
			t.Errorf("location %d digest %q, want %q", i, loc.Digest, want)
		}
	}

	var types []string
	var lastRequest string
	err = Each(files[0], func(wr gowarc.WarcRecord, offset, _ int64, findings []error) error {
		if len(findings) > 0 {
			t.Errorf("record %d: validation findings %v", len(types), findings)
		}
		types = append(types, wr.Type().String())
		switch wr.Type() {
		case gowarc.Request:
			lastRequest = wr.RecordId()
		case gowarc.Response:
			i := len(types)/2 - 1
			if got := wr.WarcHeader().GetId(gowarc.WarcConcurrentTo); got != lastRequest {
				t.Errorf("response %d concurrent to %q, want its request %q", i, got, lastRequest)
			}
			if got, want := wr.WarcHeader().Get(gowarc.WarcPayloadDigest), sha1Base32(pages[i].Body); got != want {
				t.Errorf("response %d payload digest %q, want %q", i, got, want)
			}
			if got := wr.WarcHeader().Get(gowarc.WarcTruncated); got != pages[i].Truncated {
				t.Errorf("response %d WARC-Truncated %q, want %q", i, got, pages[i].Truncated)
			}
			block, ok := wr.Block().(gowarc.HttpResponseBlock)
			if !ok {
				t.Fatalf("response %d block is %T", i, wr.Block())
			}
			payload, err := block.PayloadBytes()
			if err != nil {
				return err
			}
			got, _ := io.ReadAll(payload)
			if string(got) != string(pages[i].Body) {
				t.Errorf("response %d payload %q, want %q", i, got, pages[i].Body)
			}
			if te := block.HttpHeader().Get("Transfer-Encoding"); te != "" {
				t.Errorf("response %d keeps Transfer-Encoding %q for a decoded payload", i, te)
			}
			if offset != locs[i].Offset {
				t.Errorf("response %d at offset %d, location says %d", i, offset, locs[i].Offset)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "warcinfo request response request response request response"; strings.Join(types, " ") != want {
		t.Errorf("record types %q, want %q", strings.Join(types, " "), want)
	}
	if _, err := os.Stat(files[0] + ".open"); !os.IsNotExist(err) {
		t.Errorf("an .open file is left: %v", err)
	}
}

// Workers write at once: every exchange lands once, whole (and the race
// detector finds no race in the library's record building).
func TestWriteExchange_Concurrent(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true, MaxSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				if _, err := w.WriteExchange(t.Context(), exchange(fmt.Sprintf("http://127.0.0.2/%d/%d", i, j), strings.Repeat("b", 300), false)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc.gz"))
	seen := make(map[string]int)
	for _, f := range files {
		if err := Each(f, func(rec gowarc.WarcRecord, _, _ int64, findings []error) error {
			if len(findings) > 0 {
				t.Errorf("%s: %v", f, findings)
			}
			if rec.Type() == gowarc.Response {
				seen[rec.WarcHeader().Get(gowarc.WarcTargetURI)]++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 2 {
		t.Errorf("%d files for %d exchanges of ~1 KiB with max size 4 KiB, want rotation", len(files), workers*each)
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct responses, want %d", len(seen), workers*each)
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s archived %d times", u, n)
		}
	}
}

// A location's offset and length cut out exactly the response record: the
// bytes there, read alone (compressed or not), are one whole, valid
// record of the URL with the digest the location names. Sync on a durable
// writer succeeds between writes and after the file changed.
func TestLocation_OpensTheRecord(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(Config{Dir: dir, Node: "n", Compress: compress, MaxSize: 2 << 10, Durable: true})
			if err != nil {
				t.Fatal(err)
			}
			var locs []Location
			var urls []string
			for i := range 6 {
				u := fmt.Sprintf("http://127.0.0.2/%d", i)
				loc, err := w.WriteExchange(t.Context(), exchange(u, strings.Repeat("p", 200*i), false))
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
				locs, urls = append(locs, loc), append(urls, u)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for i, loc := range locs {
				data, err := os.ReadFile(filepath.Join(dir, loc.File))
				if err != nil {
					t.Fatal(err)
				}
				if loc.Length <= 0 || loc.Offset+loc.Length > int64(len(data)) {
					t.Fatalf("location %d %+v outside the file's %d bytes", i, loc, len(data))
				}
				r, err := gowarc.NewWarcFileReaderFromStream(strings.NewReader(string(data[loc.Offset:loc.Offset+loc.Length])), 0, gowarc.WithStrictValidation())
				if err != nil {
					t.Fatal(err)
				}
				rec, err := r.Next()
				if err != nil {
					t.Fatalf("location %d: %v", i, err)
				}
				if len(rec.Validation) > 0 || rec.Size != loc.Length {
					t.Errorf("location %d: findings %v, record size %d, want none and %d", i, rec.Validation, rec.Size, loc.Length)
				}
				h := rec.WarcRecord.WarcHeader()
				if rec.WarcRecord.Type() != gowarc.Response || h.Get(gowarc.WarcTargetURI) != urls[i] || h.Get(gowarc.WarcPayloadDigest) != loc.Digest {
					t.Errorf("location %d opens a %s of %s (%s), want the response of %s (%s)", i, rec.WarcRecord.Type(), h.Get(gowarc.WarcTargetURI), h.Get(gowarc.WarcPayloadDigest), urls[i], loc.Digest)
				}
				_ = rec.WarcRecord.Close()
				if _, err := r.Next(); !errors.Is(err, io.EOF) {
					t.Errorf("location %d: more than one record in its span (%v)", i, err)
				}
				_ = r.Close()
			}
			if locs[0].File == locs[len(locs)-1].File {
				t.Errorf("all in %s with max size 2 KiB, want rotation", locs[0].File)
			}
		})
	}
}

// Sync returns only once the exchanges written before it are in the
// file: workers writing and syncing at once each find their response's
// bytes in the file still being written (and whole, read after), while
// one write of the file may take many workers' exchanges. (The records
// are read after the workers end: gowarc's readers, like its builders,
// write a variable of the uuid package.)
func TestSync_HandsExchangesToTheFile(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var mu sync.Mutex
	locs := make(map[string]Location)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				u := fmt.Sprintf("http://127.0.0.2/%d/%d", i, j)
				loc, err := w.WriteExchange(context.Background(), exchange(u, strings.Repeat("s", 100*j), false))
				if err == nil {
					err = w.Sync()
				}
				if err != nil {
					t.Error(err)
					return
				}
				fi, err := os.Stat(filepath.Join(dir, loc.File+openSuffix))
				if err != nil {
					t.Error(err)
					return
				}
				if fi.Size() < loc.Offset+loc.Length {
					t.Errorf("%s: the file has %d bytes after Sync, its response ends at %d", u, fi.Size(), loc.Offset+loc.Length)
				}
				mu.Lock()
				locs[u] = loc
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for u, loc := range locs {
		data, err := os.ReadFile(filepath.Join(dir, loc.File))
		if err != nil {
			t.Fatal(err)
		}
		r, err := gowarc.NewWarcFileReaderFromStream(bytes.NewReader(data[loc.Offset:loc.Offset+loc.Length]), 0, gowarc.WithStrictValidation())
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next()
		if err != nil || rec.WarcRecord.WarcHeader().Get(gowarc.WarcTargetURI) != u {
			t.Errorf("%s: the record at its location: %v", u, err)
		} else {
			_ = rec.WarcRecord.Close()
		}
		_ = r.Close()
	}
}
