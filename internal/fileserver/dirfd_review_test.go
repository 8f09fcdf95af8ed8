package fileserver

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirFdReuseAfterClose: a dirFd that held the mount's root fd and was
// closed forgets that it did, so that an fd it opens later is closed (and
// uncounted) by the next close.
func TestDirFdReuseAfterClose(t *testing.T) {
	host := t.TempDir()
	if err := os.Mkdir(filepath.Join(host, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	c, err := newChroot(s, host)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c.rootFd)
	var f dirFd
	if fd := f.get(c, ""); fd != c.rootFd {
		t.Fatalf("root: fd %d, want the mount's %d", fd, c.rootFd)
	}
	f.close()
	fd := f.get(c, "sub")
	if fd < 0 || fd == c.rootFd {
		t.Fatalf("sub: fd %d", fd)
	}
	f.close()
	if n := s.dirFds.Load(); n != 0 {
		t.Errorf("%d directory fds counted after close, want 0", n)
	}
	if err := unix.Fstat(fd, new(unix.Stat_t)); err != unix.EBADF {
		t.Errorf("fd %d still open after close (fstat: %v)", fd, err)
	}
}
