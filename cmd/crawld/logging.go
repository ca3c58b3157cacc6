package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// parseLevel reads a log_level value.
func parseLevel(level string) (zapcore.Level, error) {
	switch level {
	case "debug", "info", "warn", "error":
		return zapcore.ParseLevel(level)
	}
	return zapcore.InfoLevel, fmt.Errorf("must be debug, info, warn or error (got %q)", level)
}

// newLogger builds the process logger: JSON lines for machines, or a
// console layout for people, written to w (stderr, so stdout can carry the
// records). Changing level changes what it logs from then on.
func newLogger(level zap.AtomicLevel, format string, w io.Writer) (*zap.Logger, error) {
	var enc zapcore.Encoder
	switch format {
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, fmt.Errorf("log_format: must be json or console (got %q)", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}
