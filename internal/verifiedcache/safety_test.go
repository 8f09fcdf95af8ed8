package verifiedcache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// A symlink that another user put where nacre keeps its per-user directory
// (/dev/shm/nacre-<uid>) must not make nacre create the store at its
// target.
func TestPrepareSymlinkSquat(t *testing.T) {
	base := shmDir(t)
	shm := filepath.Join(base, "shm") // plays /dev/shm: writable by all, sticky
	target := filepath.Join(base, "target")
	for _, d := range []string{shm, target} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(shm, 0o1777); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"nacre-1000", "other"} {
		if err := os.Symlink(target, filepath.Join(shm, link)); err != nil {
			t.Fatal(err)
		}
		fd, err := prepare(filepath.Join(shm, link, "verified"))
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, ErrUnsafe) {
			t.Errorf("store below symlink %s: err = %v, want ErrUnsafe", link, err)
		}
		if _, err := os.Lstat(filepath.Join(target, "verified")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("prepare created the store at the symlink's target (%v)", err)
		}
	}
	// A directory of another user below a dir anyone may write: refused.
	if os.Geteuid() == 0 {
		other := filepath.Join(shm, "nacre-2000")
		os.Mkdir(other, 0o700)
		os.Chown(other, 65534, 65534)
		if _, err := prepare(filepath.Join(other, "verified")); !errors.Is(err, ErrUnsafe) {
			t.Errorf("other user's directory: err = %v", err)
		}
	}
	// A symlink in a directory only we can write (a system path such as
	// /var/run → /run) is followed, and the store is made with mode 0700.
	if err := os.Symlink(target, filepath.Join(base, "sys")); err != nil {
		t.Fatal(err)
	}
	fd, err := prepare(filepath.Join(base, "sys", "nacre", "verified"))
	if err != nil {
		t.Fatalf("store below a safe symlink: %v", err)
	}
	s, err := openFd(fd, "store", 1<<20, nil)
	if err != nil {
		t.Fatalf("prepared store refused: %v", err)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(target, "nacre", "verified")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store: %v, %v", fi, err)
	}
}

// Unfinished copies count against the budget from NewBuilder on.
func TestBuilderBudget(t *testing.T) {
	s := openStore(t, shmDir(t), 1<<20)
	const n = 400 << 10
	sum := func(i int) [32]byte { return sha256.Sum256([]byte{byte(i)}) }
	b1, err := s.NewBuilder(sum(1), n)
	if err != nil || b1 == nil {
		t.Fatalf("first builder: %v %v", b1, err)
	}
	b2, err := s.NewBuilder(sum(2), n)
	if err != nil || b2 == nil {
		t.Fatalf("second builder: %v %v", b2, err)
	}
	if b3, err := s.NewBuilder(sum(3), n); !errors.Is(err, ErrBudget) || b3 != nil {
		t.Fatalf("third builder over budget: %v, %v; want ErrBudget", b3, err)
	}
	b1.Abort()
	b3, err := s.NewBuilder(sum(3), n)
	if err != nil || b3 == nil {
		t.Fatalf("builder after abort: %v %v", b3, err)
	}
	// A published copy counts as usage, and is evicted to make room.
	if done, err := b2.WriteAt(make([]byte, n), 0); err != nil || !done {
		t.Fatal(done, err)
	}
	if err := b2.Publish(); err != nil {
		t.Fatal(err)
	}
	b4, err := s.NewBuilder(sum(4), n)
	if err != nil || b4 == nil {
		t.Fatalf("builder after publish: %v %v", b4, err)
	}
	if f, _ := s.Lookup(sum(2), n); f != nil {
		f.Close()
		t.Error("published copy not evicted for the new builder")
	}
	if b5, err := s.NewBuilder(sum(5), n); !errors.Is(err, ErrBudget) {
		t.Fatalf("fifth builder: %v, %v; want ErrBudget", b5, err)
	}
	b3.Abort()
	b4.Abort()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != 0 {
		t.Errorf("in flight after abort: %d", s.inflight)
	}
}

func TestCapBudget(t *testing.T) {
	const G = 1 << 30
	for _, c := range []struct {
		max      int64
		explicit bool
		typ      uint32
		fs       int64
		want     int64
		err      error
	}{
		{G, false, unix.TMPFS_MAGIC, 8 * G, G, nil},
		{G, false, unix.TMPFS_MAGIC, G, G / 2, nil},
		{G, true, unix.TMPFS_MAGIC, G, G, nil},
		{G, false, unix.RAMFS_MAGIC, 0, 0, ErrUnsafe},
		{G, true, unix.RAMFS_MAGIC, 0, G, nil},
	} {
		got, err := capBudget(c.max, c.explicit, c.typ, c.fs)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("capBudget(%d, %v, %#x, %d) = %d, %v; want %d, %v", c.max, c.explicit, c.typ, c.fs, got, err, c.want, c.err)
		}
	}
}

func TestProtected(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/x/rt")
	t.Setenv(EnvDir, "/a/b/store")
	got := Protected()
	for _, want := range []string{
		"/run/nacre/verified", "/run/nacre", "/x/rt/nacre/verified", "/x/rt/nacre",
		fmt.Sprintf("/dev/shm/nacre-%d/verified", os.Geteuid()), fmt.Sprintf("/dev/shm/nacre-%d", os.Geteuid()),
		"/a/b/store", "/a/b",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("Protected() = %v lacks %s", got, want)
		}
	}
	t.Setenv(EnvDir, "/store")
	if slices.Contains(Protected(), "/") {
		t.Error("Protected() holds /")
	}
}
