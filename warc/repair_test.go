package warc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlnwa/gowarc/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// crashed is a WARC file as a writer left it, whole: its name while
// written (.open), its bytes, and where each of its records ends.
type crashed struct {
	open string
	data []byte
	ends []int64
}

// writeWhole writes a file of a warcinfo record and the given exchanges
// with prefix "p" and node "n1", and returns it.
func writeWhole(t *testing.T, compress bool, exchanges int) crashed {
	t.Helper()
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Prefix: "p", Node: "n1", Compress: compress, Software: "crawld/test"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range exchanges {
		if _, err := w.WriteExchange(context.Background(), exchange(fmt.Sprintf("http://127.0.0.2/%d", i), strings.Repeat("body ", 20), false)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("files %v, want one", files)
	}
	c := crashed{open: filepath.Base(files[0]) + openSuffix}
	if c.data, err = os.ReadFile(files[0]); err != nil {
		t.Fatal(err)
	}
	err = Each(files[0], func(_ gowarc.WarcRecord, offset, _ int64, _ []error) error {
		if offset > 0 {
			c.ends = append(c.ends, offset)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.ends = append(c.ends, int64(len(c.data)))
	return c
}

// wholeBefore is the length of the whole records in the first n bytes.
func (c crashed) wholeBefore(n int64) (records int, length int64) {
	for _, end := range c.ends {
		if end <= n {
			records, length = records+1, end
		}
	}
	return records, length
}

// repairOpen leaves data in dir as the file c.open, as a crash would, and
// opens a writer of the file's prefix and node there, which repairs it.
func repairOpen(t *testing.T, dir string, c crashed, data []byte, log *zap.Logger) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, c.open), data, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Open(Config{Dir: dir, Prefix: "p", Node: "n1", Compress: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkRepaired checks that dir holds just the file c completed, holding
// exactly want (none if want is empty), every record read back under
// strict validation with no finding; and empties dir.
func checkRepaired(t *testing.T, dir string, c crashed, want []byte, records int) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	final := strings.TrimSuffix(c.open, openSuffix)
	if records == 0 {
		if len(names) != 0 {
			t.Errorf("files %v, want none: not even the warcinfo record was whole", names)
		}
		return
	}
	if !slices.Equal(names, []string{final}) {
		t.Fatalf("files %v, want just %s", names, final)
	}
	path := filepath.Join(dir, final)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("repaired to %d bytes, want the %d of the %d whole records", len(got), len(want), records)
	}
	n := 0
	err = Each(path, func(_ gowarc.WarcRecord, offset, _ int64, findings []error) error {
		if len(findings) > 0 {
			t.Errorf("record at %d: findings %v", offset, findings)
		}
		n++
		return nil
	})
	if err != nil || n != records {
		t.Errorf("read back %d records (%v), want %d", n, err, records)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// A file cut at any byte of its last record (for .gz, in its gzip member's
// header, its deflate data or its trailer), or anywhere in its warcinfo
// record, repairs to exactly the whole records before the cut, renamed
// without .open, or is removed if not even the warcinfo record is whole.
func TestOpen_RepairsFileCutAnywhere(t *testing.T) {
	for _, compress := range []bool{true, false} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			c := writeWhole(t, compress, 1)
			if len(c.ends) != 3 {
				t.Fatalf("record ends %v, want warcinfo, request, response", c.ends)
			}
			var cuts []int64
			for n := c.ends[1]; n <= c.ends[2]; n++ {
				cuts = append(cuts, n) // every byte of the response
			}
			for n := int64(0); n <= c.ends[0]; n += max(1, c.ends[0]/40) {
				cuts = append(cuts, n) // through the warcinfo record
			}
			cuts = append(cuts, c.ends[0]-1, c.ends[0]+1, c.ends[1]-1, 1, 2, 5, 9, 10, 11)
			dir := t.TempDir()
			for _, n := range cuts {
				repairOpen(t, dir, c, c.data[:n], nil)
				records, length := c.wholeBefore(n)
				checkRepaired(t, dir, c, c.data[:length], records)
				if t.Failed() {
					t.Fatalf("cut at %d of %d (record ends %v)", n, len(c.data), c.ends)
				}
			}
		})
	}
}

// Whatever follows the last whole record is cut off: garbage, the start
// of a gzip member or of an uncompressed record, or a record whose bytes
// were damaged; what was logged says so.
func TestOpen_RepairCutsTrailingDamage(t *testing.T) {
	for _, compress := range []bool{true, false} {
		c := writeWhole(t, compress, 2)
		last := c.ends[len(c.ends)-2] // where the last record starts
		// A byte of the last record's payload (uncompressed), of its
		// deflate data (compressed) damaged.
		damaged := slices.Clone(c.data)
		at := int64(len(c.data)) - 10
		if compress {
			at = (last + int64(len(c.data))) / 2
		}
		damaged[at] ^= 0x55
		tests := []struct {
			name string
			data []byte
			keep int64 // bytes kept
			msg  string
		}{
			{"whole", c.data, int64(len(c.data)), "WARC file left open by a crash completed: every record whole"},
			{"garbage", append(slices.Clone(c.data), "garbage after the records"...), int64(len(c.data)), "WARC file left open by a crash repaired: cut after its last whole record"},
			{"short garbage", append(slices.Clone(c.data), "xyz"...), int64(len(c.data)), "WARC file left open by a crash repaired: cut after its last whole record"},
			{"gzip magic", append(slices.Clone(c.data), 0x1f, 0x8b, 0x08, 0, 0, 0), int64(len(c.data)), "WARC file left open by a crash repaired: cut after its last whole record"},
			{"record start", append(slices.Clone(c.data), "WARC/1.1\r\nWARC-Type: response\r\n"...), int64(len(c.data)), "WARC file left open by a crash repaired: cut after its last whole record"},
			{"damaged last record", damaged, last, "WARC file left open by a crash repaired: cut after its last whole record"},
			{"nothing", nil, 0, "WARC file left open by a crash removed: not even its warcinfo record is whole"},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("compress=%v/%s", compress, tt.name), func(t *testing.T) {
				dir := t.TempDir()
				core, logs := observer.New(zapcore.InfoLevel)
				repairOpen(t, dir, c, tt.data, zap.New(core))
				records, _ := c.wholeBefore(tt.keep)
				checkRepaired(t, dir, c, c.data[:tt.keep], records)
				entries := logs.FilterMessage(tt.msg).All()
				if len(entries) != 1 {
					t.Fatalf("logged %v, want %q", logs.All(), tt.msg)
				}
				fields := entries[0].ContextMap()
				if fields["file"] != c.open || fields["records"] != int64(records) {
					t.Errorf("logged %v, want file %s and records %d", fields, c.open, records)
				}
				if cut := int64(len(tt.data)) - tt.keep; cut > 0 && tt.keep > 0 && fields["cut_bytes"] != cut {
					t.Errorf("logged %v, want cut_bytes %d", fields, cut)
				}
			})
		}
	}
}

// Only this writer's files are repaired: another node's file .open in the
// same directory is being written by that node, alive, and another
// prefix's by another crawl; neither is touched, nor are other files.
func TestOpen_RepairLeavesOthersAlone(t *testing.T) {
	c := writeWhole(t, true, 1)
	cut := c.data[:len(c.data)-3]
	dir := t.TempDir()
	mine := c.open
	ts := strings.Split(mine, "-")[1]
	others := []string{
		"p-" + ts + "-00001-n2.warc.gz.open",   // another node
		"p-" + ts + "-00002-n1-b.warc.gz.open", // a node named like ours, longer
		"p-" + ts + "-00003-xn1.warc.gz.open",
		"q-" + ts + "-00001-n1.warc.gz.open", // another prefix
		"p-" + ts + "-00004-n1.warc.gz",      // complete
		"p-n1.warc.gz.open",                  // not a name crawld gives
	}
	for _, name := range others {
		if err := os.WriteFile(filepath.Join(dir, name), cut, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repairOpen(t, dir, c, cut, nil)
	for _, name := range others {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, cut) {
			t.Errorf("%s touched (%v)", name, err)
		}
		_ = os.Remove(filepath.Join(dir, name))
	}
	records, length := c.wholeBefore(int64(len(cut)))
	checkRepaired(t, dir, c, c.data[:length], records)
}

// A repaired file is never written over a file of its final name: Open
// fails, naming it, and both files stay as they were.
func TestOpen_RepairKeepsAnExistingFile(t *testing.T) {
	c := writeWhole(t, false, 1)
	dir := t.TempDir()
	final := strings.TrimSuffix(c.open, openSuffix)
	for _, name := range []string{c.open, final} {
		if err := os.WriteFile(filepath.Join(dir, name), c.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(Config{Dir: dir, Prefix: "p", Node: "n1"})
	if err == nil || !strings.Contains(err.Error(), final+" exists") {
		t.Errorf("Open = %v, want an error saying %s exists", err, final)
	}
	for _, name := range []string{c.open, final} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("%s changed (%v)", name, err)
		}
	}
}

// Two processes may share a node's name (the host name, by default): a
// file another writer holds open is left alone, whatever its name, and
// that writer goes on and completes it.
func TestOpen_RepairLeavesALiveWritersFileAlone(t *testing.T) {
	dir := t.TempDir()
	live, err := Open(Config{Dir: dir, Prefix: "p", Node: "n1", Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.WriteExchange(context.Background(), exchange("http://127.0.0.2/1", "first", false)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.open"))
	if len(files) != 1 {
		t.Fatalf("files %v, want one .open", files)
	}
	before, _ := os.ReadFile(files[0])
	core, logs := observer.New(zapcore.InfoLevel)
	other, err := Open(Config{Dir: dir, Prefix: "p", Node: "n1", Compress: true, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if after, err := os.ReadFile(files[0]); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the live writer's file touched (%v)", err)
	}
	if n := logs.FilterMessage("WARC file left .open alone: another process is writing it").Len(); n != 1 {
		t.Errorf("logged %v, want the file left alone", logs.All())
	}
	if _, err := live.WriteExchange(context.Background(), exchange("http://127.0.0.2/2", "second", false)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(live.Close(), other.Close()); err != nil {
		t.Fatal(err)
	}
	responses := 0
	err = Each(strings.TrimSuffix(files[0], openSuffix), func(rec gowarc.WarcRecord, offset, _ int64, findings []error) error {
		if len(findings) > 0 {
			t.Errorf("record at %d: findings %v", offset, findings)
		}
		if rec.Type() == gowarc.Response {
			responses++
		}
		return nil
	})
	if err != nil || responses != 2 {
		t.Errorf("the live writer's file holds %d responses (%v), want 2", responses, err)
	}
}
