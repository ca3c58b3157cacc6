package warc

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readZip returns the entries of the zip at path by name, with their
// method.
func readZip(t *testing.T, path string) (map[string][]byte, map[string]uint16, []string) {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, methods := make(map[string][]byte), make(map[string]uint16)
	var names []string
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc) // checks the entry's CRC-32 too
		_ = rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		data[f.Name], methods[f.Name] = b, f.Method
		names = append(names, f.Name)
	}
	return data, methods, names
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Package writes PREFIX-TIMESTAMP.wacz holding the writer's WARC files
// under archive/ (stored, byte for byte), indexes/index.cdxj (the files'
// CDXJ lines merged in order), pages/pages.jsonl (its header, then the
// HTML 200 pages with RFC 3339 times) and datapackage.json, whose
// resources list every other entry with its true size and SHA-256, as
// datapackage-digest.json does datapackage.json. Without Config.CDXJ the
// missing indexes are written first.
func TestPackage(t *testing.T) {
	for _, cdxj := range []bool{true, false} {
		t.Run(fmt.Sprintf("cdxj=%v", cdxj), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Open(Config{Dir: dir, Prefix: "test", Node: "n", Compress: true, MaxSize: 2 << 10, CDXJ: cdxj, Software: "crawld/test"})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if _, err := w.WriteExchange(context.Background(), exchange(fmt.Sprintf("http://127.0.0.3/%d", i), strings.Repeat("z", 500*i), false)); err != nil {
					t.Fatal(err)
				}
			}
			archiveMixed(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			created := time.Date(2026, 12, 7, 13, 14, 15, 678e6, time.UTC)
			path, err := w.Package(created)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, "test-20261207131415678.wacz"); path != want {
				t.Errorf("package %s, want %s", path, want)
			}
			if _, err := os.Stat(path + ".open"); !os.IsNotExist(err) {
				t.Errorf("%s.open left: %v", path, err)
			}
			entries, methods, names := readZip(t, path)

			files := w.Files()
			if len(files) < 2 {
				t.Fatalf("files %q, want rotation", files)
			}
			var want []string
			var lines []string
			for _, f := range files {
				want = append(want, "archive/"+filepath.Base(f))
				disk, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if got := entries["archive/"+filepath.Base(f)]; string(got) != string(disk) {
					t.Errorf("archive/%s: %d bytes, the file has %d", filepath.Base(f), len(got), len(disk))
				}
				if m := methods["archive/"+filepath.Base(f)]; m != zip.Store {
					t.Errorf("archive/%s stored with method %d, want Store", filepath.Base(f), m)
				}
				lines = append(lines, readLines(t, CDXJPath(f))...)
			}
			want = append(want, "indexes/index.cdxj", "pages/pages.jsonl", "datapackage.json", "datapackage-digest.json")
			if !slices.Equal(names, want) {
				t.Errorf("entries %q, want %q", names, want)
			}

			slices.Sort(lines)
			if got := string(entries["indexes/index.cdxj"]); got != strings.Join(lines, "\n")+"\n" {
				t.Errorf("indexes/index.cdxj:\n%s\nwant the files' lines merged:\n%s", got, strings.Join(lines, "\n"))
			}

			// The copy is a revisit of the HTML page's payload: a page too,
			// in index order (its key sorts first); the 404 and the
			// redirect are not.
			wantPages := []string{pagesHeader}
			for _, u := range []string{"http://127.0.0.2:8080/copy", "http://127.0.0.2:8080/Page?b=2&a=1", "http://127.0.0.3/0", "http://127.0.0.3/1", "http://127.0.0.3/2", "http://127.0.0.3/3"} {
				wantPages = append(wantPages, fmt.Sprintf(`{"url":%q,"ts":"2026-12-07T12:00:00Z"}`, u))
			}
			if got := string(entries["pages/pages.jsonl"]); got != strings.Join(wantPages, "\n")+"\n" {
				t.Errorf("pages/pages.jsonl:\n%s\nwant\n%s", got, strings.Join(wantPages, "\n"))
			}

			var pkg struct {
				Profile   string         `json:"profile"`
				Version   string         `json:"wacz_version"`
				Created   string         `json:"created"`
				Software  string         `json:"software"`
				Resources []waczResource `json:"resources"`
			}
			if err := json.Unmarshal(entries["datapackage.json"], &pkg); err != nil {
				t.Fatal(err)
			}
			if pkg.Profile != "data-package" || pkg.Version != "1.1.1" || pkg.Created != "2026-12-07T13:14:15Z" || pkg.Software != "crawld/test" {
				t.Errorf("datapackage.json %+v", pkg)
			}
			var listed []string
			for _, r := range pkg.Resources {
				listed = append(listed, r.Path)
				b, ok := entries[r.Path]
				if !ok || r.Name != filepath.Base(r.Path) || r.Bytes != int64(len(b)) || r.Hash != sha256Of(b) {
					t.Errorf("resource %+v: the entry has %d bytes, %s (present: %v)", r, len(b), sha256Of(b), ok)
				}
			}
			if !slices.Equal(listed, want[:len(want)-2]) {
				t.Errorf("resources %q, want %q", listed, want[:len(want)-2])
			}
			var digest struct{ Path, Hash string }
			if err := json.Unmarshal(entries["datapackage-digest.json"], &digest); err != nil {
				t.Fatal(err)
			}
			if digest.Path != "datapackage.json" || digest.Hash != sha256Of(entries["datapackage.json"]) {
				t.Errorf("datapackage-digest.json %+v, want datapackage.json's %s", digest, sha256Of(entries["datapackage.json"]))
			}
		})
	}
}

// mergeLines yields the lines of sorted files in byte order, whatever
// their lengths (one file empty, one longer than the others).
func TestMergeLines(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, content := range []string{"a 1\nc 3\nd\n", "", "b 2\nc 2\nc 4\ne\nf\n", "a\n"} {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var got []string
	if err := mergeLines(paths, func(l string) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a 1", "b 2", "c 2", "c 3", "c 4", "d", "e", "f"}
	if !slices.Equal(got, want) {
		t.Errorf("merged %q, want %q", got, want)
	}
}
