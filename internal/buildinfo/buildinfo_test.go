package buildinfo

import (
	"regexp"
	"testing"
)

func TestUserAgent(t *testing.T) {
	got := UserAgent()
	want := regexp.MustCompile(`^crawld/\S+ \(\+https://\S+\)$`)
	if !want.MatchString(got) {
		t.Fatalf("UserAgent() = %q, want it to match %s", got, want)
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); v == "" {
		t.Fatal("Version() is empty")
	}
}
