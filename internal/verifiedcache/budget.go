package verifiedcache

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrBudget reports a copy that does not fit in the store's budget.
var ErrBudget = errors.New("verifiedcache: copy does not fit in the budget")

// reserve counts n bytes of an unfinished copy against the budget. Such
// copies (unnamed O_TMPFILE files) hold tmpfs memory just like published
// ones, but eviction cannot remove them, so they must be bounded when they
// start: published copies are evicted (oldest first) to make room, and the
// copy is refused when this process's unfinished copies alone would exceed
// the budget. Because other runs' unfinished copies are invisible here, a
// copy is also refused when it would take more than half of the store
// filesystem's free space.
func (s *Store) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.scanned {
		s.evictToLocked(s.max) // learns the usage; once per process
	}
	if s.usage+s.inflight+n > s.max {
		s.evictToLocked(s.max - s.inflight - n)
	}
	if s.usage+s.inflight+n > s.max {
		return fmt.Errorf("copy of %d bytes in %s: %d bytes stored and %d being copied, budget %d (%s): %w",
			n, s.dir, s.usage, s.inflight, s.max, EnvMax, ErrBudget)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(s.dirFd, &sfs); err == nil && fsType(&sfs) != unix.RAMFS_MAGIC {
		if free := int64(sfs.Bavail) * int64(sfs.Bsize); n > free/2 {
			return fmt.Errorf("copy of %d bytes in %s: only %d bytes free on its filesystem: %w", n, s.dir, free, ErrBudget)
		}
	}
	s.inflight += n
	return nil
}

// release returns n reserved bytes (the copy was published or dropped).
func (s *Store) release(n int64) {
	s.mu.Lock()
	s.inflight -= n
	s.mu.Unlock()
}
