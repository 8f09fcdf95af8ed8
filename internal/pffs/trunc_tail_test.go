package pffs

import (
	"bytes"
	"os"
	"testing"
)

// After an O_TRUNC open keeps the host tail, growing the file again
// (ftruncate, or a write beyond the end) must read as zeros, never as the
// old content still on the host, before and after close, and after a
// remount (no page cache).
func TestTruncKeptTailReadsZeros(t *testing.T) {
	host := t.TempDir()
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	const size = 1 << 20
	if err := os.WriteFile(m.path("f"), pattern(size, 7), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(m.path("f"), os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), size-1); err != nil { // gap of zeros
		t.Fatal(err)
	}
	want := make([]byte, size)
	want[size-1] = 'x'
	check := func(when string, got []byte) {
		t.Helper()
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: %d bytes, first difference at %d", when, len(got), i)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, size)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	check("open", got)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.unmount(t)
	check("host", hostRead(t, m, "f", key1))
}
