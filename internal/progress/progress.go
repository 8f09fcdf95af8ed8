// Package progress draws a one-line progress indicator for long operations
// (hashing trusted files, encrypting trees) when, and only when, the output is
// a terminal, so logs and pipes stay clean.
package progress

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Bytes returns a callback reporting done/total bytes under label on f, or a
// no-op when f is not a terminal. Updates are drawn at most 10 times a second;
// the line is finished when done reaches total.
func Bytes(f *os.File, label string) func(done, total int64) {
	if f == nil || !IsTerminal(f) {
		return func(int64, int64) {}
	}
	var mu sync.Mutex
	var last time.Time
	start := time.Now()
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		finished := total > 0 && done >= total
		if !finished && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		pct := 100.0
		if total > 0 {
			pct = float64(done) * 100 / float64(total)
		}
		rate := float64(done) / 1e6 / max(time.Since(start).Seconds(), 1e-3)
		fmt.Fprintf(f, "\r%s: %5.1f%%  %s / %s  %.0f MB/s ", label, pct, human(done), human(total), rate)
		if finished {
			fmt.Fprintln(f)
		}
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
