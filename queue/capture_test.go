package queue

import (
	"testing"
	"time"
)

// With Revisitable a URL's capture is kept next to its validators, and
// saving the validators again keeps it; without, nothing is kept.
func TestMemory_Capture(t *testing.T) {
	const u = "https://a/x"
	c := Capture{URI: u, Date: time.Date(2026, 12, 7, 12, 0, 0, 1, time.UTC), RecordID: "urn:uuid:1", Digest: "sha1:X"}
	m := NewMemory(Config{Revisitable: true})
	if _, ok := m.Capture(u); ok {
		t.Error("a capture of an unknown URL")
	}
	if err := m.SaveCapture(u, c); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveValidators(u, `"e"`, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Capture(u); !ok || got != c {
		t.Errorf("Capture = %+v, %v; want %+v", got, ok, c)
	}
	other := Capture{URI: "https://a/original", Date: c.Date, Digest: "sha1:X"}
	if err := m.SaveCapture("https://a/y", other); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Capture("https://a/y"); got != other {
		t.Errorf("a capture of another URI = %+v, want %+v", got, other)
	}
	if etag, _, _, ok := m.Validators(u); !ok || etag != `"e"` {
		t.Errorf("validators %q, %v after a capture was saved", etag, ok)
	}

	m = NewMemory(Config{})
	if err := m.SaveCapture(u, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Capture(u); ok {
		t.Error("a capture kept without Revisitable")
	}
}
