package verifiedcache

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Environment variables.
const (
	// EnvDir overrides the store directory; "off" disables the cache.
	EnvDir = "NACRE_VERIFIED_CACHE"
	// EnvMax is the budget in bytes, with an optional K, M or G suffix.
	EnvMax = "NACRE_VERIFIED_CACHE_MAX"
	// EnvPassthrough set to 1 asks for FUSE passthrough to copies (root
	// only): see fileserver.Config.Passthrough for the trade-off.
	EnvPassthrough = "NACRE_VERIFIED_PASSTHROUGH"
)

// PassthroughWanted reports whether $NACRE_VERIFIED_PASSTHROUGH is 1.
func PassthroughWanted() bool { return os.Getenv(EnvPassthrough) == "1" }

// DefaultDir returns the store directory for this process: $NACRE_VERIFIED_CACHE
// if set ("" and false if it is "off"); else for root /run/nacre/verified if
// /run is tmpfs, for other users $XDG_RUNTIME_DIR/nacre/verified if that is
// tmpfs; else /dev/shm/nacre-<uid>/verified.
func DefaultDir() (string, bool) {
	if d, ok := os.LookupEnv(EnvDir); ok && d != "" {
		if d == "off" {
			return "", false
		}
		return d, true
	}
	uid := os.Geteuid()
	base := ""
	if uid == 0 {
		base = "/run"
	} else {
		base = os.Getenv("XDG_RUNTIME_DIR")
	}
	// A relative XDG_RUNTIME_DIR is ignored (as the XDG spec says), and
	// Protected would not cover a store under the working directory.
	if filepath.IsAbs(base) && onTmpfs(base) {
		return filepath.Join(base, "nacre", "verified"), true
	}
	return fmt.Sprintf("/dev/shm/nacre-%d/verified", uid), true
}

func onTmpfs(p string) bool {
	var sfs unix.Statfs_t
	return unix.Statfs(p, &sfs) == nil && fsType(&sfs) == unix.TMPFS_MAGIC
}

// DefaultMax returns $NACRE_VERIFIED_CACHE_MAX, or 1/16 of the guest's
// memory but at most 1 GiB: the copies are not reclaimable like page cache,
// and programs, libraries and interpreters' modules (what start-up reads)
// fit in far less.
func DefaultMax() (int64, error) {
	if v := os.Getenv(EnvMax); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", EnvMax, err)
		}
		return n, nil
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	return min(int64(si.Totalram)*int64(si.Unit)/16, 1<<30), nil
}

// ParseSize parses a byte count with an optional K, M or G suffix (powers of
// 1024).
func ParseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with K, M or G", v)
	}
	return n * mult, nil
}

// OpenDefault opens (creating it if needed) the store at DefaultDir with the
// DefaultMax budget. It returns nil when the cache is off or unsafe; it then
// logs why (once, at warning level unless it was turned off on purpose), and
// the run goes on without it.
func OpenDefault(log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	dir, ok := DefaultDir()
	if !ok {
		log.Debug("verifiedcache: off", "env", EnvDir)
		return nil
	}
	max, err := DefaultMax()
	if err != nil {
		log.Warn("verifiedcache: disabled", "err", err)
		return nil
	}
	fd, err := prepare(dir)
	if err != nil {
		log.Warn("verifiedcache: disabled", "dir", dir, "err", err)
		return nil
	}
	s, err := openFd(fd, dir, max, log)
	if err != nil {
		log.Warn("verifiedcache: disabled", "dir", dir, "err", err)
		return nil
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(s.dirFd, &sfs); err == nil {
		_, explicit := os.LookupEnv(EnvMax)
		explicit = explicit && os.Getenv(EnvMax) != ""
		s.max, err = capBudget(max, explicit, fsType(&sfs), int64(sfs.Blocks)*int64(sfs.Bsize))
	}
	if err != nil {
		s.Close()
		log.Warn("verifiedcache: disabled", "dir", dir, "err", err)
		return nil
	}
	return s
}

// capBudget bounds the default budget max by half the size of the store's
// filesystem (fsBytes): a tmpfs smaller than the budget would otherwise be
// filled by copies (and /dev/shm is shared with every program of the
// guest). ramfs has no size limit at all, so it is used only with an
// explicit $NACRE_VERIFIED_CACHE_MAX.
func capBudget(max int64, explicit bool, fsType uint32, fsBytes int64) (int64, error) {
	if explicit {
		return max, nil
	}
	if fsType == unix.RAMFS_MAGIC {
		return 0, fmt.Errorf("the store is on ramfs, which has no size limit: set %s to a byte budget to use it, or point %s at a tmpfs directory: %w", EnvMax, EnvDir, ErrUnsafe)
	}
	if fsBytes > 0 && fsBytes/2 < max {
		max = fsBytes / 2
	}
	if max <= 0 {
		return 0, fmt.Errorf("the store's filesystem has no room (size %d bytes): set %s: %w", fsBytes, EnvMax, ErrUnsafe)
	}
	return max, nil
}
