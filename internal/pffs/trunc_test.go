package pffs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nacre-tee/nacre/internal/pf"
)

// An O_TRUNC open commits the shrink (flushed, synced) but keeps the host
// file's blocks for the rewrite; the tail left over is cut at fsync or at
// the last close, and what the host holds is exactly the new content.
func TestTruncRewriteKeepsHostUntilClose(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	p, host := m.path("f"), filepath.Join(m.host, "f")
	hostSize := func() int64 {
		st, err := os.Stat(host)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	big, small := pattern(1<<20, 1), pattern(100_000, 2)
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sync := range []bool{false, true} {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := hostSize(), int64(pf.EncryptedSize(uint64(len(big)))); got != want {
			t.Errorf("host size right after O_TRUNC = %d, want the old %d (blocks kept for the rewrite)", got, want)
		}
		if _, err := f.Write(small); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if got, want := hostSize(), int64(pf.EncryptedSize(uint64(len(small)))); got != want {
				t.Errorf("host size after fsync = %d, want %d", got, want)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := hostSize(), int64(pf.EncryptedSize(uint64(len(small)))); got != want {
			t.Errorf("host size after close = %d, want %d", got, want)
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("read back: %v (len %d)", err, len(got))
		}
		// Back to the big content for the next round.
		if err := os.WriteFile(p, big, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m.unmount(t)
	if got := hostRead(t, m, "f", key1); !bytes.Equal(got, big) {
		t.Fatal("host content differs after unmount")
	}
}
