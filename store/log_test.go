package store

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLog_PebbleBackgroundError: a flush that fails in Pebble's background (the table it
// writes cannot be created) reaches the logger given to Open, at error
// level, naming the error; Pebble retries the flush, which then completes.
func TestLog_PebbleBackgroundError(t *testing.T) {
	var fail atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpCreate && strings.HasSuffix(op.Path, ".sst") && fail.CompareAndSwap(true, false) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	core, logs := observer.New(zapcore.DebugLevel)
	f, err := open(fs, t.TempDir(), unlimited, time.Hour, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, f)
	mustAdd(t, f, item("a", 1), 0)
	fail.Store(true)
	if err := f.db.Flush(); err != nil {
		t.Fatalf("Flush after a failed attempt: %v", err)
	}
	if fail.Load() {
		t.Fatal("the flush created no table: nothing was injected")
	}
	var found bool
	for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		msg, _ := e.ContextMap()["error"].(string)
		found = found || strings.Contains(msg, errorfs.ErrInjected.Error())
	}
	if !found {
		t.Errorf("no error-level entry names the injected error; log: %v", logs.All())
	}
}

// TestLog_SyncFailure: a failed background fsync of the write-ahead log,
// which no call can return, is logged at error level when it happens, not
// only returned by Close.
func TestLog_SyncFailure(t *testing.T) {
	var fail atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileSyncData && strings.HasSuffix(op.Path, ".log") && fail.Load() {
			return errorfs.ErrInjected
		}
		return nil
	}))
	logged := make(chan zapcore.Entry, 1)
	core, _ := observer.New(zapcore.DebugLevel)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Level >= zapcore.ErrorLevel {
			select {
			case logged <- e:
			default:
			}
		}
		return nil
	}))
	f, err := open(fs, t.TempDir(), unlimited, time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	mustAdd(t, f, item("a", 1), 0)
	select {
	case e := <-logged:
		if !strings.Contains(e.Message, "write failed") {
			t.Errorf("logged %q, want the failed sync", e.Message)
		}
	case <-time.After(30 * time.Second):
		t.Error("the failed sync was not logged")
	}
	fail.Store(false)
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), errorfs.ErrInjected.Error()) {
		t.Errorf("Close: %v, want the failed sync", err)
	}
}

// TestLog_MalformedValidators: validators that cannot be decoded are
// reported as absent, as before, and logged at warn level with their URL.
func TestLog_MalformedValidators(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	f, err := Open(t.TempDir(), unlimited, WithLogger(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, f)
	const url = "https://a/x"
	if err := f.db.Set([]byte(prefixValid+url), []byte{validVersion, 9}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := f.Validators(url); ok {
		t.Error("malformed validators reported present")
	}
	got := logs.FilterLevelExact(zapcore.WarnLevel).FilterField(zap.String("url", url)).Len()
	if got != 1 {
		t.Errorf("%d warnings naming %s, want 1; log: %v", got, url, logs.All())
	}
}
