package store

import (
	"testing"
	"time"
)

func TestValidators(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	const u, lm = "https://a/x", "Mon, 02 Jan 2006 15:04:05 GMT"
	at := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
	if _, _, _, ok := f.Validators(u); ok {
		t.Error("validators of an unknown URL")
	}
	check := func(etag, lastModified string, fetchedAt time.Time, ok bool) {
		t.Helper()
		e, l, a, o := f.Validators(u)
		if e != etag || l != lastModified || !a.Equal(fetchedAt) || o != ok {
			t.Errorf("Validators = %q %q %v %v, want %q %q %v %v", e, l, a, o, etag, lastModified, fetchedAt, ok)
		}
	}
	for _, v := range [][2]string{{`W/"x"`, lm}, {`"only-etag"`, ""}, {"", lm}, {`"é\x00"`, "x"}, {"", ""}} {
		if err := f.SaveValidators(u, v[0], v[1], at); err != nil {
			t.Fatal(err)
		}
		check(v[0], v[1], at, true)
	}
	mustClose(t, f)
	if err := f.SaveValidators(u, "a", "b", at); err == nil {
		t.Error("SaveValidators after Close: no error")
	}

	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	check("", "", at, true)
	if err := f.SaveValidators(u, "", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("", "", time.Time{}, false)
}

func TestCounters(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, unlimited)
	if c, err := f.Counters(); err != nil || len(c) != 0 {
		t.Fatalf("Counters of a new store = %v, %v", c, err)
	}
	if err := f.SaveCounters(map[string]int64{"pages": 10, "errors": 2}); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveCounters(map[string]int64{"pages": 12}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, f)
	f = mustOpen(t, dir, unlimited)
	defer mustClose(t, f)
	got, err := f.Counters()
	if err != nil || got["pages"] != 12 || got["errors"] != 2 || len(got) != 2 {
		t.Errorf("Counters after reopen = %v, %v; want pages 12, errors 2", got, err)
	}
}
