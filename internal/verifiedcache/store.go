package verifiedcache

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrUnsafe reports a store directory that fails a safety check.
var ErrUnsafe = errors.New("verifiedcache: unsafe store directory")

// Store is an open store directory. It is safe for concurrent use.
type Store struct {
	dir   string // path as opened (for messages)
	dirFd int    // the checked directory; all access goes through it
	uid   int
	max   int64
	log   *slog.Logger

	mu       sync.Mutex
	usage    int64 // bytes in the store, once scanned
	scanned  bool
	inflight int64 // bytes of this process's unfinished copies (Builders)

	// Counters, for tests and `nacre cache`.
	Hits, Built, Evicted atomic.Int64
}

// Open opens the store directory dir, which must exist, be on tmpfs or
// ramfs, be owned by the effective uid, have mode 0700 and not be a symlink.
// max is the budget in bytes (> 0).
func Open(dir string, max int64, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if max <= 0 {
		return nil, fmt.Errorf("open verified-copy store %s: budget %d bytes is not positive", dir, max)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("open verified-copy store %s: not a directory or a symlink: %w", dir, ErrUnsafe)
		}
		return nil, fmt.Errorf("open verified-copy store %s: %w", dir, err)
	}
	return openFd(fd, dir, max, log)
}

// openFd is Open of the already opened directory fd (O_RDONLY), which it
// takes over (closing it on error).
func openFd(fd int, dir string, max int64, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if max <= 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("open verified-copy store %s: budget %d bytes is not positive", dir, max)
	}
	if err := checkDir(fd, dir); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Store{dir: dir, dirFd: fd, uid: os.Geteuid(), max: max, log: log}, nil
}

// checkDir checks the opened store directory: tmpfs or ramfs, owned by us,
// mode 0700.
func checkDir(fd int, dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return fmt.Errorf("statfs verified-copy store %s: %w", dir, err)
	}
	if t := fsType(&sfs); t != unix.TMPFS_MAGIC && t != unix.RAMFS_MAGIC {
		return fmt.Errorf("verified-copy store %s is not on tmpfs or ramfs (f_type %#x), so copies would not be in guest memory: %w", dir, fsType(&sfs), ErrUnsafe)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat verified-copy store %s: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("verified-copy store %s is owned by uid %d, not %d: %w", dir, st.Uid, os.Geteuid(), ErrUnsafe)
	}
	if st.Mode&0o7777 != 0o700 {
		return fmt.Errorf("verified-copy store %s has mode %#o, want 0700: %w", dir, st.Mode&0o7777, ErrUnsafe)
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Max returns the budget in bytes.
func (s *Store) Max() int64 { return s.max }

// Close closes the directory.
func (s *Store) Close() error { return unix.Close(s.dirFd) }

// resolve returns p with symlinks resolved in its longest existing prefix.
func resolve(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	if dir == "" || dir == p {
		return p
	}
	return filepath.Join(resolve(filepath.Clean(dir)), base)
}

// within reports whether p is base or below it.
func within(p, base string) bool {
	if base == "/" || p == base {
		return true
	}
	return strings.HasPrefix(p, base+"/")
}

// name is a copy's file name: the whole file's SHA-256 in hex.
func name(sum [32]byte) string { return hex.EncodeToString(sum[:]) }

// Lookup opens the copy of the file with SHA-256 sum, if the store holds a
// usable one: a regular file owned by the effective uid, not writable by
// others, with one link and size bytes (size < 0: any). It returns nil, nil
// on a miss; a copy that fails a check is logged, removed and a miss. A hit
// touches the copy's mtime (its recency for eviction).
func (s *Store) Lookup(sum [32]byte, size int64) (*os.File, error) {
	if s == nil {
		return nil, nil
	}
	n := name(sum)
	fd, err := unix.Openat(s.dirFd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		s.log.Warn("verifiedcache: copy refused", "dir", s.dir, "name", n, "err", err)
		return nil, fmt.Errorf("open copy %s in %s: %w", n, s.dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat copy %s in %s: %w", n, s.dir, err)
	}
	if why := s.badCopy(&st, size); why != "" {
		unix.Close(fd)
		s.log.Warn("verifiedcache: copy refused", "dir", s.dir, "name", n, "why", why)
		// A file of ours that fails a check is damaged (or planted):
		// drop it so that a later run can store a good copy.
		if int(st.Uid) == s.uid {
			_ = unix.Unlinkat(s.dirFd, n, 0)
		}
		return nil, fmt.Errorf("copy %s in %s: %s: %w", n, s.dir, why, ErrUnsafe)
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_NOW}}
	_ = unix.UtimesNanoAt(s.dirFd, n, ts, unix.AT_SYMLINK_NOFOLLOW) // recency only
	s.Hits.Add(1)
	return os.NewFile(uintptr(fd), filepath.Join(s.dir, n)), nil
}

// badCopy says why st is not a usable copy of size bytes, or "".
func (s *Store) badCopy(st *unix.Stat_t, size int64) string {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return "not a regular file"
	case int(st.Uid) != s.uid:
		return fmt.Sprintf("owned by uid %d", st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Sprintf("mode %#o is writable by others", st.Mode&0o7777)
	case st.Nlink != 1:
		return fmt.Sprintf("%d links", st.Nlink)
	case size >= 0 && st.Size != size:
		return fmt.Sprintf("size %d, want %d", st.Size, size)
	}
	return ""
}

// fsType returns statfs's f_type as the 32-bit magic number it is:
// Statfs_t.Type is int32 on 386 (RAMFS_MAGIC does not fit), uint32 on
// s390x and int64 elsewhere.
func fsType(sfs *unix.Statfs_t) uint32 { return uint32(sfs.Type) }
