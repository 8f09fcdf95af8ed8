package fileserver

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLookupRelativeToParent: children are found through the parent's
// host fd, symlinks stay symlinks, and after the host swaps a looked-up
// directory for a symlink out of the mount, no new name resolves outside.
func TestLookupRelativeToParent(t *testing.T) {
	f := newFixture(t, nil)
	if st, err := os.Stat(f.m("data/sub/f")); err != nil || st.Size() != int64(len("inside")) {
		t.Fatalf("stat data/sub/f: %v %v", st, err)
	}
	if st, err := os.Lstat(f.m("usr/esc")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("usr/esc: %v %v, want a symlink", st, err)
	}
	wantErrno(t, "missing name", statErr(f.m("data/sub/nothing")), syscall.ENOENT)

	os.Rename(f.h("data/sub"), f.h("data/sub.old"))
	os.Symlink(f.outside, f.h("data/sub"))
	// "secret" exists only outside the mount.
	if _, err := os.Stat(f.m("data/sub/secret")); err == nil {
		t.Fatal("a lookup after the swap found a file outside the mount")
	}
	if got, err := os.ReadFile(f.m("data/sub/f")); err == nil && string(got) == "outside" {
		t.Fatal("read a file outside the mount")
	}
	if st, err := os.Lstat(f.m("data/sub.old/f")); err != nil || st.Size() != int64(len("inside")) {
		t.Errorf("stat data/sub.old/f: %v %v", st, err)
	}
}

func statErr(p string) error { _, err := os.Stat(p); return err }

// BenchmarkLookupMissing times a LOOKUP round trip: each op stats a new
// missing name in a directory of the view (as python's path probes do), so
// the kernel cannot answer from its negative cache.
func BenchmarkLookupMissing(b *testing.B) {
	mnt := hostView(b)
	dir := mnt + "/usr/lib"
	var st unix.Stat_t
	i := 0
	for b.Loop() {
		i++
		if err := unix.Lstat(dir+"/nx"+strconv.Itoa(i), &st); err != unix.ENOENT {
			b.Fatalf("lstat: %v", err)
		}
	}
}

// TestDirFdCap: walking more directories than maxDirFds works, and no more
// than maxDirFds directory fds are held.
func TestDirFdCap(t *testing.T) {
	f := newFixture(t, nil)
	n := maxDirFds + 50
	for i := range n {
		d := f.h("data/many/d" + strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d+"/x", []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := os.Stat(f.m("data/many/d" + strconv.Itoa(i) + "/x")); err != nil {
			t.Fatalf("stat in directory %d: %v", i, err)
		}
	}
	if got := f.srv.dirFds.Load(); got > maxDirFds || got < maxDirFds/2 {
		t.Errorf("%d directory fds held, want at most %d (and most of them used)", got, maxDirFds)
	}
}
