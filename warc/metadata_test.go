package warc

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"
)

// An exchange with Metadata is followed, in its file, by a metadata record
// for its URL, concurrent to its response, holding the page's via, fetch
// time and outlinks as Heritrix writes them; one without has none. gowarc
// reads both back under strict validation with no finding.
func TestWriteExchange_Metadata(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Node: "n", Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	page := exchange("http://127.0.0.2:8080/b", `<a href="/a">a</a>`, false)
	page.Metadata = &Metadata{Via: "http://127.0.0.2:8080/old", FetchTime: 42 * time.Millisecond,
		Outlinks: []string{"http://127.0.0.2:8080/a", "http://127.0.0.3/c?d=1"}}
	bare := exchange("http://127.0.0.2:8080/robots.txt", "User-agent: *\n", false)
	for _, ex := range []Exchange{page, bare} {
		if _, err := w.WriteExchange(context.Background(), ex); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.warc.gz"))
	if len(files) != 1 {
		t.Fatalf("files %v, want 1", files)
	}
	var types []string
	var response, fields string
	err = Each(files[0], func(rec gowarc.WarcRecord, _, _ int64, findings []error) error {
		if len(findings) > 0 {
			t.Errorf("%s record: findings %v", rec.Type(), findings)
		}
		types = append(types, rec.Type().String())
		h := rec.WarcHeader()
		switch rec.Type() {
		case gowarc.Response:
			if response == "" {
				response = rec.RecordId()
			}
		case gowarc.Metadata:
			if got := h.GetId(gowarc.WarcConcurrentTo); got != response {
				t.Errorf("metadata concurrent to %q, want the response %q", got, response)
			}
			if got := h.Get(gowarc.WarcTargetURI); got != page.URL {
				t.Errorf("metadata for %q, want %q", got, page.URL)
			}
			if got := h.Get(gowarc.ContentType); got != gowarc.ApplicationWarcFields {
				t.Errorf("metadata Content-Type %q", got)
			}
			raw, err := rec.Block().RawBytes()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(raw)
			fields = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "warcinfo request response metadata request response"; strings.Join(types, " ") != want {
		t.Errorf("record types %q, want %q", strings.Join(types, " "), want)
	}
	want := "via: http://127.0.0.2:8080/old\r\nfetchTimeMs: 42\r\n" +
		"outlink: http://127.0.0.2:8080/a L a/@href\r\noutlink: http://127.0.0.3/c?d=1 L a/@href\r\n"
	if fields != want {
		t.Errorf("metadata fields\n%q\nwant\n%q", fields, want)
	}
}
