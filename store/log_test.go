package store

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
