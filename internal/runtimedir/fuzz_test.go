package runtimedir

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLDD feeds arbitrary bytes as an executable: LDD must return a result
// or an error, never panic.
func FuzzLDD(f *testing.F) {
	if sh, err := os.ReadFile("/bin/sh"); err == nil && len(sh) < 4<<20 {
		f.Add(sh[:min(len(sh), 8192)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("#!/bin/sh\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "bin")
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		LDD([]string{p}, map[string]string{})
	})
}
