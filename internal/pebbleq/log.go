package pebbleq

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Logger returns a pebble.Logger that writes to log: Infof at debug level
// (Pebble's informational lines, such as the logs it replays at open, which
// would crowd crawld's own), Errorf at error level. Fatalf logs its message
// at error level and then panics with it, as it must not return: Pebble
// carries on as if the process had ended. A nil log discards the lines (the
// panic stays).
func Logger(log *zap.Logger) pebble.Logger {
	if log == nil {
		log = zap.NewNop()
	}
	return zapLogger{log}
}

type zapLogger struct{ log *zap.Logger }

func (l zapLogger) Infof(format string, args ...any) {
	if l.log.Core().Enabled(zap.DebugLevel) {
		l.log.Debug(line(format, args))
	}
}

func (l zapLogger) Errorf(format string, args ...any) { l.log.Error(line(format, args)) }

func (l zapLogger) Fatalf(format string, args ...any) {
	msg := line(format, args)
	l.log.Error(msg, zap.Bool("fatal", true))
	panic("pebble: " + msg)
}

// line formats one of Pebble's log lines, some of which end in a newline.
func line(format string, args []any) string {
	return strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
}

// Err is the field "error" with err's message. Unlike zap.Error, it leaves
// out the stack trace that Pebble's errors carry, dozens of lines to every
// entry.
func Err(err error) zap.Field { return zap.String("error", err.Error()) }

// EventListener returns the listener to Pebble's events that reports to
// log what an operator should see: a background error (a flush or
// compaction that failed, which Pebble retries, or a table it could not
// read) at error level, and write stalls (writes held back until
// compactions catch up) and low disk space at warn level. The events it
// leaves out keep Pebble's defaults (EnsureDefaults): data corruption then
// goes to the Logger's Fatalf. A nil log discards the events.
func EventListener(log *zap.Logger) *pebble.EventListener {
	if log == nil {
		log = zap.NewNop()
	}
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			log.Error("pebble background error", Err(err))
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			log.Warn("pebble write stall: writes wait for compactions", zap.String("reason", info.Reason))
		},
		WriteStallEnd: func() {
			log.Warn("pebble write stall over")
		},
		LowDiskSpace: func(info pebble.LowDiskSpaceInfo) {
			log.Warn("pebble: low disk space", zap.Uint64("available_bytes", info.AvailBytes),
				zap.Uint64("total_bytes", info.TotalBytes), zap.Int("percent_threshold", info.PercentThreshold))
		},
	}
}
