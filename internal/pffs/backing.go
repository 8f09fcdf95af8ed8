package pffs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/pf"
)

// hostBacking is the host file of one protected file, with shrinking made
// crash-safe: pf cuts the host file right after flushing a node 0 that still
// names the old size, and a crash before the next flush would leave a node 0
// that needs nodes the host file no longer has. So a shrink only moves the
// logical end (reads stop there, the bytes beyond stay on disk); commit cuts
// the file once a node 0 naming the new size is durable. Nodes beyond the
// logical end are never read; pf accepts a host file longer than its
// metadata needs, and nacre cuts such a tail (left by a crash between the
// flush and the cut) at the next open.
type hostBacking struct {
	f    *os.File
	mu   sync.Mutex
	size int64 // logical size: what pf believes the host file holds
	phys int64 // real size, >= size while a shrink is pending
}

func newHostBacking(f *os.File) (*hostBacking, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &hostBacking{f: f, size: st.Size(), phys: st.Size()}, nil
}

func (h *hostBacking) ReadAt(p []byte, off int64) (int, error) {
	h.mu.Lock()
	size := h.size
	h.mu.Unlock()
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if int64(len(p)) > size-off {
		want = p[:size-off]
	}
	n, err := h.f.ReadAt(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (h *hostBacking) WriteAt(p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off > h.size && h.phys > h.size {
		// The gap must read as zeros, not as stale bytes of a pending
		// shrink (pf never leaves gaps; this keeps the backing honest).
		if err := h.zero(h.size, min(off, h.phys)); err != nil {
			return 0, err
		}
	}
	n, err := h.f.WriteAt(p, off)
	if end := off + int64(n); end > h.size {
		h.size = end
		h.phys = max(h.phys, end)
	}
	return n, err
}

// ReadvAt reads the buffers as one range (preadv), stopping at the logical
// end like ReadAt.
func (h *hostBacking) ReadvAt(bufs [][]byte, off int64) (int, error) {
	h.mu.Lock()
	size := h.size
	h.mu.Unlock()
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if off+int64(total) > size {
		return 0, io.EOF // pf asks only for nodes the tree has; let it report
	}
	done := 0
	for done < total {
		n, err := unix.Preadv(int(h.f.Fd()), skipBufs(bufs, done), off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

// WritevAt writes the buffers as one range (pwritev).
func (h *hostBacking) WritevAt(bufs [][]byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off > h.size && h.phys > h.size {
		if err := h.zero(h.size, min(off, h.phys)); err != nil {
			return 0, err
		}
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	done := 0
	var err error
	for done < total {
		var n int
		n, err = unix.Pwritev(int(h.f.Fd()), skipBufs(bufs, done), off+int64(done))
		if err == unix.EINTR {
			err = nil
			continue
		}
		if err != nil || n == 0 {
			break
		}
		done += n
	}
	if end := off + int64(done); end > h.size {
		h.size = end
		h.phys = max(h.phys, end)
	}
	if err == nil && done < total {
		err = io.ErrShortWrite
	}
	return done, err
}

// skipBufs returns bufs without their first n bytes (after a short transfer).
func skipBufs(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			rest := append([][]byte{bufs[0][n:]}, bufs[1:]...)
			return rest
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}

// zeros is a source of zeros for zero (never written).
var zeros [64 << 10]byte

// zero overwrites [from, to) of the real file with zeros. After an O_TRUNC
// rewrite over a kept tail, the gaps are the MHT nodes' slots that
// direct writes skip until the next flush (4 KiB each).
func (h *hostBacking) zero(from, to int64) error {
	for from < to {
		n := min(int64(len(zeros)), to-from)
		if _, err := h.f.WriteAt(zeros[:n], from); err != nil {
			return err
		}
		from += n
	}
	return nil
}

func (h *hostBacking) Truncate(size int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case size == 0 && h.size == 0:
		return nil
	case size <= h.size:
		h.size = size // cut later, in commit
		return nil
	case size <= h.phys:
		if err := h.zero(h.size, size); err != nil {
			return err
		}
		h.size = size
		return nil
	}
	if err := h.zero(h.size, h.phys); err != nil {
		return err
	}
	if err := h.f.Truncate(size); err != nil {
		return err
	}
	h.size, h.phys = size, size
	return nil
}

func (h *hostBacking) Sync() error { return h.f.Sync() }

// StartWriteback starts the disk writes of a range pf just wrote (a hint:
// the Sync that follows is what makes it durable).
func (h *hostBacking) StartWriteback(off, n int64) {
	_ = unix.SyncFileRange(int(h.f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

func (h *hostBacking) Size() (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.size, nil
}

// pendingShrink reports whether the real file is longer than the logical one.
func (h *hostBacking) pendingShrink() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.phys > h.size
}

// commit cuts the real file to the logical size. Call it only when the
// durable node 0 names a size that fits (right after pf's Flush, with no
// other operation on the file in between).
func (h *hostBacking) commit() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.phys <= h.size {
		return nil
	}
	if err := h.f.Truncate(h.size); err != nil {
		return err
	}
	h.phys = h.size
	return nil
}

// journal is the recovery journal "<host file>.gramine.recovery" of one
// protected file, created only when pf first writes to it (most opens never
// flush) and removed when the file is closed. Once its file is unlinked
// (the protected file was deleted or replaced while open) it lives on in
// memory: a deleted file needs no crash recovery.
type journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	mem  *pf.MemBacking
	// pending gathers consecutive record writes (pf writes one 4104-byte
	// record per call) into one write, issued before anything reads,
	// syncs or truncates the journal; pf syncs it before touching the
	// protected file, so the order on disk is unchanged.
	pending    []byte
	pendingOff int64
	// skipped counts records left out since the last truncation: a node
	// that did not exist before the flush (pf journals it as zeros) needs
	// no undo, since the node 0 a replay restores does not reach it.
	skipped int64
}

var zeroNode [pf.NodeSize]byte

// spill writes the gathered records.
func (j *journal) spill() error {
	if len(j.pending) == 0 {
		return nil
	}
	if _, err := j.open(true); err != nil {
		return err
	}
	_, err := j.f.WriteAt(j.pending, j.pendingOff)
	j.pending = j.pending[:0]
	return err
}

// open opens (create: or creates) the journal file; ok is false when it does
// not exist and create is false.
func (j *journal) open(create bool) (ok bool, err error) {
	if j.f != nil || j.mem != nil {
		return true, nil
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(j.path, flags|syscallNoFollow, 0o600)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	j.f = f
	return true, nil
}

func (j *journal) ReadAt(p []byte, off int64) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem != nil {
		return j.mem.ReadAt(p, off)
	}
	if err := j.spill(); err != nil {
		return 0, err
	}
	if ok, err := j.open(false); !ok || err != nil {
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	return j.f.ReadAt(p, off)
}

func (j *journal) WriteAt(p []byte, off int64) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem != nil {
		return j.mem.WriteAt(p, off)
	}
	if len(p) == journalRecord && off%journalRecord == 0 && binary.LittleEndian.Uint64(p) > 1 &&
		bytes.Equal(p[8:], zeroNode[:]) {
		j.skipped++
		return len(p), nil
	}
	off -= j.skipped * journalRecord
	if len(j.pending) > 0 && off != j.pendingOff+int64(len(j.pending)) || len(j.pending) >= 8<<20 {
		if err := j.spill(); err != nil {
			return 0, err
		}
	}
	if len(j.pending) == 0 {
		j.pendingOff = off
	}
	j.pending = append(j.pending, p...)
	return len(p), nil
}

func (j *journal) Truncate(size int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem != nil {
		return j.mem.Truncate(size)
	}
	if err := j.spill(); err != nil {
		return err
	}
	if size == 0 {
		j.skipped = 0
	}
	if j.f == nil && size == 0 {
		// An empty journal and no journal mean the same; a stale one left
		// by an earlier file of this name must go.
		if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if _, err := j.open(true); err != nil {
		return err
	}
	return j.f.Truncate(size)
}

func (j *journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.spill(); err != nil {
		return err
	}
	if j.f == nil {
		return nil
	}
	return j.f.Sync()
}

func (j *journal) Size() (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem != nil {
		return j.mem.Size()
	}
	if err := j.spill(); err != nil {
		return 0, err
	}
	if ok, err := j.open(false); !ok || err != nil {
		return 0, err
	}
	st, err := j.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// rename moves the journal along with its file (host rename of the file
// succeeded). A journal at the new path belonged to the replaced file.
func (j *journal) rename(newPath string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem == nil {
		if err := j.spill(); err != nil {
			return err
		}
	}
	old := j.path
	j.path = newPath
	if j.mem != nil {
		return nil
	}
	if j.f == nil {
		if err := os.Remove(newPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.Rename(old, newPath)
}

// detach is called when the file is unlinked or replaced: the journal's
// path now belongs to nobody (or to another file) and must not be touched.
func (j *journal) detach() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mem != nil {
		return
	}
	_ = j.spill()
	if j.f != nil {
		if sameFile(j.f, j.path) {
			_ = os.Remove(j.path)
		}
		// Keep using the unlinked file: pf may be mid-flush.
		j.mem = pf.NewMemBacking(nil)
		if st, err := j.f.Stat(); err == nil && st.Size() > 0 {
			buf := make([]byte, st.Size())
			if n, _ := j.f.ReadAt(buf, 0); n > 0 {
				_, _ = j.mem.WriteAt(buf[:n], 0)
			}
		}
		_ = j.f.Close()
		j.f = nil
		return
	}
	j.mem = pf.NewMemBacking(nil)
}

// close closes the journal and, with remove (pf closed the file cleanly and
// left the journal empty), deletes its file.
func (j *journal) close(remove bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !remove {
		_ = j.spill()
	}
	j.pending = nil
	if j.f == nil {
		return nil
	}
	var err error
	if remove && sameFile(j.f, j.path) {
		err = os.Remove(j.path)
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}

const syscallNoFollow = syscall.O_NOFOLLOW

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}
