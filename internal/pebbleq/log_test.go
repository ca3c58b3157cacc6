package pebbleq

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogger: Pebble's Infof goes to debug level and Errorf to error level,
// without a trailing newline; Fatalf logs at error level, then panics with
// the message; a nil logger discards but still panics.
func TestLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := Logger(zap.New(core))
	l.Infof("found %d logs\n", 2)
	l.Errorf("cannot %s", "sync")
	func() {
		defer func() {
			if r := recover(); r != "pebble: corrupt 7" {
				t.Errorf("Fatalf panicked with %v, want %q", r, "pebble: corrupt 7")
			}
		}()
		l.Fatalf("corrupt %d", 7)
		t.Error("Fatalf returned")
	}()
	want := []struct {
		level zapcore.Level
		msg   string
	}{{zapcore.DebugLevel, "found 2 logs"}, {zapcore.ErrorLevel, "cannot sync"}, {zapcore.ErrorLevel, "corrupt 7"}}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("entry %d: %s %q, want %s %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Fatalf of a nil logger did not panic")
		}
	}()
	Logger(nil).Fatalf("x")
}
