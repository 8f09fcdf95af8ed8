package verifiedcache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// pageSize is the unit in which a Builder tracks written bytes: FUSE READs
// and page-cache stores are page-aligned, verified chunks are too.
const pageSize = 4096

// ErrIncomplete reports a Publish before every page was written.
var ErrIncomplete = errors.New("verifiedcache: copy is incomplete")

// Builder collects the verified bytes of one file into an unnamed temporary
// file of the store; Publish names it once every page was written. The caller
// must only write bytes that were verified against the manifest. A Builder is
// safe for concurrent use.
type Builder struct {
	s    *Store
	sum  [32]byte
	size int64

	mu      sync.Mutex
	f       *os.File // nil after Publish or Abort
	have    []uint64 // bit per page written
	missing int64    // pages not yet written
}

// NewBuilder starts a copy of the file with SHA-256 sum and size bytes. It
// returns nil, nil for files the store does not take (empty, or larger than
// half the budget), and ErrBudget when the copy does not fit (see reserve).
// The size counts against the budget until Publish or Abort.
func (s *Store) NewBuilder(sum [32]byte, size int64) (*Builder, error) {
	if s == nil || size <= 0 || size > s.max/2 {
		return nil, nil
	}
	if err := s.reserve(size); err != nil {
		return nil, err
	}
	// Unnamed until complete: no other process can open it by name, and a
	// crash leaves nothing behind. Mode 0400: the copy is never written
	// again once named (this fd may, being open for writing).
	fd, err := unix.Openat(s.dirFd, ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o400)
	if err != nil {
		s.release(size)
		return nil, fmt.Errorf("create copy in %s: %w", s.dir, err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		s.release(size)
		return nil, fmt.Errorf("size copy in %s to %d bytes: %w", s.dir, size, err)
	}
	pages := (size + pageSize - 1) / pageSize
	return &Builder{
		s: s, sum: sum, size: size,
		f:       os.NewFile(uintptr(fd), "copy of "+name(sum)),
		have:    make([]uint64, (pages+63)/64),
		missing: pages,
	}, nil
}

// Size returns the size of the file being copied.
func (b *Builder) Size() int64 { return b.size }

// WriteAt stores verified bytes p at off and reports whether the copy is now
// complete. Pages only partly covered by p are written but not counted; a
// later write must cover them whole (the last page counts when p reaches
// the end of the file).
func (b *Builder) WriteAt(p []byte, off int64) (complete bool, err error) {
	if off < 0 || off+int64(len(p)) > b.size {
		return false, fmt.Errorf("write copy of %s: bytes %d-%d outside its size %d", name(b.sum), off, off+int64(len(p)), b.size)
	}
	b.mu.Lock()
	f := b.f
	b.mu.Unlock()
	if f == nil {
		return false, os.ErrClosed
	}
	// Outside the lock: writes of different ranges proceed in parallel.
	// Publish and Abort take the lock and close f only after claiming it,
	// so a write racing with them fails with EBADF at worst (or lands in
	// a file being thrown away).
	if _, err := f.WriteAt(p, off); err != nil {
		return false, fmt.Errorf("write copy of %s: %w", name(b.sum), err)
	}
	end := off + int64(len(p))
	first := (off + pageSize - 1) / pageSize
	last := end / pageSize // exclusive
	if end == b.size {
		last = (end + pageSize - 1) / pageSize
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return false, os.ErrClosed
	}
	for pg := first; pg < last; pg++ {
		bit := uint64(1) << (pg % 64)
		if b.have[pg/64]&bit == 0 {
			b.have[pg/64] |= bit
			b.missing--
		}
	}
	return b.missing == 0, nil
}

// Complete reports whether every page was written.
func (b *Builder) Complete() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.missing == 0
}

// Publish names the complete copy so that Lookup finds it, replacing any
// file of that name, and then evicts old copies if the store is over its
// budget. The Builder is finished afterwards either way.
func (b *Builder) Publish() error {
	b.mu.Lock()
	f, missing := b.f, b.missing
	b.f = nil
	b.mu.Unlock()
	if f == nil {
		return os.ErrClosed
	}
	defer f.Close()
	s := b.s
	s.release(b.size) // named below (then counted as usage) or thrown away
	if missing != 0 {
		return fmt.Errorf("publish copy of %s: %d pages missing: %w", name(b.sum), missing, ErrIncomplete)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "tmp-" + hex.EncodeToString(rnd[:])
	// linkat through /proc needs no capability (AT_EMPTY_PATH would need
	// CAP_DAC_READ_SEARCH); the link and the rename stay inside the store.
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, src, s.dirFd, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
		return fmt.Errorf("publish copy of %s in %s: link: %w", name(b.sum), s.dir, err)
	}
	if err := unix.Renameat(s.dirFd, tmp, s.dirFd, name(b.sum)); err != nil {
		_ = unix.Unlinkat(s.dirFd, tmp, 0)
		return fmt.Errorf("publish copy of %s in %s: rename: %w", name(b.sum), s.dir, err)
	}
	s.Built.Add(1)
	s.added(b.size)
	return nil
}

// Abort throws the unfinished copy away.
func (b *Builder) Abort() {
	b.mu.Lock()
	f := b.f
	b.f = nil
	b.mu.Unlock()
	if f != nil {
		f.Close()
		b.s.release(b.size)
	}
}
