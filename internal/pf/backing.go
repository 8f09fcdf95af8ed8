package pf

import (
	"io"
	"os"
	"sync"
)

// Backing is the host file holding the encrypted bytes. ReadAt must return
// io.EOF (or a short count) beyond the end, like io.ReaderAt.
type Backing interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Size() (int64, error)
}

// FileBacking adapts an *os.File to Backing.
type FileBacking struct{ *os.File }

// Size returns the file's current size.
func (f FileBacking) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// MemBacking is an in-memory Backing for tests, benchmarks and tools.
type MemBacking struct {
	mu  sync.Mutex
	buf []byte
}

// NewMemBacking returns a MemBacking holding a copy of b.
func NewMemBacking(b []byte) *MemBacking { return &MemBacking{buf: append([]byte(nil), b...)} }

// Bytes returns a copy of the current contents.
func (m *MemBacking) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.buf...)
}

// ReadAt implements io.ReaderAt.
func (m *MemBacking) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, os.ErrInvalid
	}
	if off >= int64(len(m.buf)) {
		return 0, io.EOF
	}
	n := copy(p, m.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements io.WriterAt, growing the buffer as needed.
func (m *MemBacking) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, os.ErrInvalid
	}
	if end := off + int64(len(p)); end > int64(len(m.buf)) {
		if end <= int64(cap(m.buf)) {
			old := len(m.buf)
			m.buf = m.buf[:end]
			clear(m.buf[old:]) // bytes left over from a truncation must read as zero
		} else {
			nb := make([]byte, end, max(end, 2*int64(cap(m.buf))))
			copy(nb, m.buf)
			m.buf = nb
		}
	}
	return copy(m.buf[off:], p), nil
}

// Truncate sets the size.
func (m *MemBacking) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size < 0 {
		return os.ErrInvalid
	}
	if size <= int64(len(m.buf)) {
		m.buf = m.buf[:size]
		return nil
	}
	m.buf = append(m.buf, make([]byte, size-int64(len(m.buf)))...)
	return nil
}

// Sync is a no-op.
func (m *MemBacking) Sync() error { return nil }

// Size returns the current size.
func (m *MemBacking) Size() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.buf)), nil
}

// WritebackStarter is an optional Backing method: StartWriteback asks the
// host to start writing [off, off+n) to disk without waiting, so a large
// flush overlaps its disk writes with the rest of its work and the Sync
// that commits it waits less. It is a hint: it may do nothing, and
// durability still comes only from Sync.
type WritebackStarter interface {
	StartWriteback(off, n int64)
}
