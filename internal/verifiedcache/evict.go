package verifiedcache

import (
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// entry is one copy in the store.
type entry struct {
	name  string
	bytes int64 // memory it holds (allocated blocks)
	mtime int64 // ns; recency
}

// staleTmp is how old a "tmp-" link must be to be a crashed publish's
// leftover rather than one in progress.
const staleTmp = time.Minute

// scan lists the copies in the store (and removes stale temporary links).
func (s *Store) scan() ([]entry, int64, error) {
	fd, err := unix.Openat(s.dirFd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("list verified-copy store %s: %w", s.dir, err)
	}
	d := os.NewFile(uintptr(fd), s.dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, 0, fmt.Errorf("list verified-copy store %s: %w", s.dir, err)
	}
	var out []entry
	var total int64
	now := time.Now().UnixNano()
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(s.dirFd, n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue // gone meanwhile
		}
		mt := st.Mtim.Nano()
		if strings.HasPrefix(n, "tmp-") {
			if now-mt > int64(staleTmp) {
				_ = unix.Unlinkat(s.dirFd, n, 0)
			}
			continue
		}
		if !isCopyName(n) || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		e := entry{name: n, bytes: st.Blocks * 512, mtime: mt}
		out = append(out, e)
		total += e.bytes
	}
	return out, total, nil
}

func isCopyName(n string) bool {
	if len(n) != 64 {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil
}

// added accounts for a published copy and evicts if over budget. The first
// call of a process scans the store, so runs that only hit never list it.
func (s *Store) added(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scanned {
		s.usage += n
		if s.usage <= s.max {
			return
		}
	}
	s.evictToLocked(s.max)
}

// evictToLocked rescans the store (other runs add to it too) and removes
// the least recently used copies until it holds at most target bytes.
func (s *Store) evictToLocked(target int64) {
	list, total, err := s.scan()
	if err != nil {
		s.log.Debug("verifiedcache: scan failed", "err", err)
		return
	}
	s.scanned = true
	if total > target {
		sort.Slice(list, func(i, j int) bool { return list[i].mtime < list[j].mtime })
		for _, e := range list {
			if total <= target {
				break
			}
			if err := unix.Unlinkat(s.dirFd, e.name, 0); err != nil && err != unix.ENOENT {
				continue
			}
			total -= e.bytes
			s.Evicted.Add(1)
			s.log.Debug("verifiedcache: copy evicted", "name", e.name, "bytes", e.bytes)
		}
	}
	s.usage = total
}

// Usage returns the number of copies and the bytes they hold.
func (s *Store) Usage() (int, int64, error) {
	list, total, err := s.scan()
	return len(list), total, err
}

// Clear removes every copy.
func (s *Store) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, _, err := s.scan()
	if err != nil {
		return err
	}
	for _, e := range list {
		if err := unix.Unlinkat(s.dirFd, e.name, 0); err != nil && err != unix.ENOENT {
			return fmt.Errorf("clear verified-copy store %s: remove %s: %w", s.dir, e.name, err)
		}
	}
	s.usage, s.scanned = 0, true
	return nil
}
