package trustedfs

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// File is an open trusted file. ReadAt reads every chunk that the requested
// range touches from the host, hashes it and compares it with the expected
// chunk hash before any byte is copied out; there is no cache, so a re-read
// re-verifies. A File is safe for concurrent ReadAt calls.
type File struct {
	f      *os.File
	path   string
	size   int64
	chunks []byte // SHA-256 of chunk i at [32i, 32i+32)

	// DropHostCache, set before the first ReadAt, makes ReadAt tell the host
	// kernel it can drop the backing file's pages once they are verified.
	// Their verified copy then lives only in the caller's cache (the FUSE page
	// cache), not twice.
	DropHostCache bool
}

// Path returns the host path the file was opened as.
func (t *File) Path() string { return t.path }

// Size returns the verified size: the index's, or the hashed file's.
func (t *File) Size() int64 { return t.size }

// Close closes the host file.
func (t *File) Close() error { return t.f.Close() }

// ReadAt reads len(p) bytes at off, like io.ReaderAt, returning io.EOF at the
// verified size. It fails with ErrHashMismatch when a touched chunk differs
// from its expected hash or the host file became shorter; p is then zeroed.
func (t *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", t.path, off)
	}
	if off >= t.size || len(p) == 0 {
		if len(p) == 0 && off <= t.size {
			return 0, nil
		}
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), t.size)
	start := off &^ (ChunkSize - 1)
	stop := min((end+ChunkSize-1)&^(ChunkSize-1), t.size)
	span := stop - start

	// Read straight into p when it starts on a chunk and holds whole chunks;
	// otherwise (mmap fault-around, small ld.so reads) through a scratch
	// buffer, so that no unverified byte is ever left in p.
	direct := start == off && int64(len(p)) >= span
	var buf []byte
	var pooled *[]byte
	if direct {
		buf = p[:span]
	} else {
		pooled = getBuf(int(span))
		defer putBuf(pooled)
		buf = (*pooled)[:span]
	}
	if err := t.readVerified(buf, start); err != nil {
		clear(buf)
		clear(p)
		return 0, err
	}
	if !direct {
		copy(p, buf[off-start:end-start])
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readVerified fills buf with the chunks starting at chunk-aligned start and
// checks each against its expected hash.
func (t *File) readVerified(buf []byte, start int64) error {
	return t.readVerifiedPar(buf, start, true)
}

// readVerifiedPar is readVerified, hashing on two goroutines if parallel.
func (t *File) readVerifiedPar(buf []byte, start int64, parallel bool) error {
	m, err := readFullAt(t.f, buf, start)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read trusted file %s: %w", t.path, err)
	}
	if m < len(buf) {
		return fmt.Errorf("%s: host file is shorter than its verified size %d: %w", t.path, t.size, ErrHashMismatch)
	}
	if parallel {
		err = t.verify(buf, start/ChunkSize)
	} else {
		err = t.verifyRange(buf, start/ChunkSize, 0, (len(buf)+ChunkSize-1)/ChunkSize)
	}
	if err != nil {
		return err
	}
	if t.DropHostCache {
		// Advisory only; failure costs memory, not integrity.
		_ = unix.Fadvise(int(t.f.Fd()), start, int64(len(buf)), unix.FADV_DONTNEED)
	}
	return nil
}

// parallelMin is the size from which verify hashes on two goroutines: a
// 128 KiB FUSE READ (the kernel's readahead unit) hashes in ~75 µs on one
// core, against ~1 µs to start a goroutine.
const parallelMin = 4 * ChunkSize

// verify checks the chunks in buf, the first of which is chunk first.
func (t *File) verify(buf []byte, first int64) error {
	n := (len(buf) + ChunkSize - 1) / ChunkSize
	if len(buf) < parallelMin || runtime.GOMAXPROCS(0) < 2 {
		return t.verifyRange(buf, first, 0, n)
	}
	half := n / 2
	var other error
	var wg sync.WaitGroup
	wg.Go(func() { other = t.verifyRange(buf, first, half, n) })
	err := t.verifyRange(buf, first, 0, half)
	wg.Wait()
	if err != nil {
		return err
	}
	return other
}

// verifyRange checks chunks [from, to) of buf.
func (t *File) verifyRange(buf []byte, first int64, from, to int) error {
	for i := from; i < to; i++ {
		b := buf[i*ChunkSize : min((i+1)*ChunkSize, len(buf))]
		sum := sha256.Sum256(b)
		c := first + int64(i)
		if [32]byte(t.chunks[c*32:c*32+32]) != sum {
			return fmt.Errorf("%s: chunk %d (bytes %d-%d): %w", t.path, c, c*ChunkSize, c*ChunkSize+int64(len(b)), ErrHashMismatch)
		}
	}
	return nil
}

// readFullAt preads until buf is full or the file ends (io.EOF with the count).
func readFullAt(f *os.File, buf []byte, off int64) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(int(f.Fd()), buf[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// Scratch buffers for unaligned reads, sized for the largest FUSE request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20+2*ChunkSize); return &b }}

func getBuf(n int) *[]byte {
	b := bufPool.Get().(*[]byte)
	if cap(*b) < n {
		nb := make([]byte, n)
		return &nb
	}
	*b = (*b)[:cap(*b)]
	return b
}

func putBuf(b *[]byte) {
	if cap(*b) == 1<<20+2*ChunkSize {
		bufPool.Put(b)
	}
}
