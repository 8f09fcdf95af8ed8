package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nacre-tee/nacre/internal/progress"
	"github.com/nacre-tee/nacre/internal/shield"
)

// LevelTrace is below slog.LevelDebug; Gramine's "trace" and "all" map to it.
const LevelTrace = shield.LevelTrace

// LevelNone is above every level nacre logs at: Gramine's "none" prints
// nothing. nacre's own failure (exit 125 or 126) is still printed, as it is
// not a log line.
const LevelNone = slog.LevelError + 4

var logVar = new(slog.LevelVar)

func initLogging() {
	logVar.Set(slog.LevelError)
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logVar, ReplaceAttr: shield.LevelNames})
	slog.SetDefault(slog.New(h))
}

func setLogLevel(l slog.Level) { logVar.Set(l) }

// parseLevel accepts Gramine's loader.log_level names as well as slog's.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "none":
		return LevelNone, nil
	case "error":
		return slog.LevelError, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "trace", "all":
		return LevelTrace, nil
	}
	return 0, fmt.Errorf("unknown log level %q: use none, error, warning, info, debug, trace or all", s)
}

// terminalProgress reports long operations on stderr when it is a terminal.
func terminalProgress(label string) func(done, total int64) {
	return progress.Bytes(os.Stderr, label)
}
