package pffs

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A disk that fills up during large writes (sealed in background batches)
// must give the application ENOSPC, not EIO, at the latest at fsync or
// close, and leave the file at its last durable content.
func TestDiskFullReportsENOSPC(t *testing.T) {
	skipUnlessRoot(t)
	host := t.TempDir()
	if err := unix.Mount("tmpfs", host, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(host, unix.MNT_DETACH)
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	old := pattern(1<<20, 1)
	if err := os.WriteFile(m.path("f"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(m.path("f"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := pattern(1<<20, 2)
	var werr error
	for range 4 {
		if _, werr = f.Write(big); werr != nil {
			break
		}
	}
	serr := f.Sync()
	cerr := f.Close()
	t.Logf("write: %v, fsync: %v, close: %v", werr, serr, cerr)
	first := werr
	if first == nil {
		first = serr
	}
	if first == nil {
		first = cerr
	}
	if !errors.Is(first, syscall.ENOSPC) {
		t.Errorf("first error on a full disk: %v, want ENOSPC", first)
	}
	if got, err := os.ReadFile(m.path("f")); err != nil {
		t.Logf("reopen after ENOSPC: %v", err)
	} else {
		t.Logf("reopen after ENOSPC: %d bytes (old %d)", len(got), len(old))
	}
	m.unmount(t)
	if got := hostRead(t, m, "f", key1); !bytes.Equal(got, old) && !bytes.HasPrefix(got, old) {
		t.Fatalf("after ENOSPC the file holds %d bytes that are not the old content", len(got))
	}
}
