package trustedfs

import (
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// Verified holds bytes of a trusted file that were read from the host into a
// buffer private to this process and checked against their chunk hashes. The
// FUSE server replies with them directly: no further copy, and no scratch
// buffer of the size of the request to allocate and fault in per READ. Call
// Release once the bytes are no longer used; a Verified that is never
// released is reclaimed by the garbage collector.
type Verified struct {
	buf  []byte // whole pooled buffer
	data []byte // the requested, verified bytes within buf
}

// Bytes returns the verified bytes; nil after Release.
func (v *Verified) Bytes() []byte { return v.data }

// Release returns the buffer for reuse. The bytes must not be used after.
func (v *Verified) Release() {
	if v.buf != nil {
		putVerifiedBuf(v.buf)
	}
	v.buf, v.data = nil, nil
}

// ReadVerified reads and verifies the chunks that [off, off+n) touches and
// returns the part of them in that range, cut at the verified size (io.EOF
// with an empty result at or past it). It fails with ErrHashMismatch like
// ReadAt; no bytes are returned then.
func (t *File) ReadVerified(off int64, n int) (*Verified, error) {
	return t.readVerifiedBuf(off, n, true)
}

// ReadAhead is ReadVerified hashing on the calling goroutine only: for
// verifying ahead of demand in the background, which must leave the other
// core to the app.
func (t *File) ReadAhead(off int64, n int) (*Verified, error) {
	return t.readVerifiedBuf(off, n, false)
}

func (t *File) readVerifiedBuf(off int64, n int, parallel bool) (*Verified, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("read %s: negative offset %d or length %d", t.path, off, n)
	}
	if off >= t.size || n == 0 {
		if n == 0 && off <= t.size {
			return &Verified{}, nil
		}
		return &Verified{}, io.EOF
	}
	end := min(off+int64(n), t.size)
	start := off &^ (ChunkSize - 1)
	stop := min((end+ChunkSize-1)&^(ChunkSize-1), t.size)
	buf := getVerifiedBuf(int(stop - start))
	span := buf[:stop-start]
	if err := t.readVerifiedPar(span, start, parallel); err != nil {
		clear(span)
		putVerifiedBuf(buf)
		return nil, err
	}
	return &Verified{buf: buf, data: span[off-start : end-start]}, nil
}

// verifiedBufSize fits the largest request of internal/fileserver (a 128
// KiB READ, a 256 KiB verify-ahead step) plus the partial chunks at both of
// its ends. Larger reads get a fresh buffer, which is slower, not wrong.
const verifiedBufSize = 256<<10 + 2*ChunkSize

// maxFreeBufs bounds the buffers kept between READs: the kernel sends a
// readahead window as up to 8 READs at once, and go-fuse serves a few of
// them in parallel with a verify-ahead.
const maxFreeBufs = 8

var verifiedBufs struct {
	mu   sync.Mutex
	free [][]byte
}

// getVerifiedBuf returns a buffer of at least n bytes, reusing a released
// one if possible. Reused buffers are already faulted in; a fresh one is
// populated in one madvise instead of one page fault per 4 KiB page.
func getVerifiedBuf(n int) []byte {
	if n <= verifiedBufSize {
		verifiedBufs.mu.Lock()
		if k := len(verifiedBufs.free); k > 0 {
			b := verifiedBufs.free[k-1]
			verifiedBufs.free = verifiedBufs.free[:k-1]
			verifiedBufs.mu.Unlock()
			return b
		}
		verifiedBufs.mu.Unlock()
		n = verifiedBufSize
	}
	return newPopulatedBuf(n)
}

func putVerifiedBuf(b []byte) {
	if cap(b) != verifiedBufSize {
		return
	}
	verifiedBufs.mu.Lock()
	if len(verifiedBufs.free) < maxFreeBufs {
		verifiedBufs.free = append(verifiedBufs.free, b[:verifiedBufSize])
	}
	verifiedBufs.mu.Unlock()
}

// newPopulatedBuf allocates n bytes and faults them in at once.
func newPopulatedBuf(n int) []byte {
	b := make([]byte, n)
	if n >= 64<<10 {
		// Advisory: without it the pages are faulted in on first use.
		page := uintptr(unix.Getpagesize())
		p := uintptr(unsafePointer(b))
		skip := int((page - p%page) % page)
		if whole := (n - skip) &^ int(page-1); whole > 0 {
			_ = unix.Madvise(b[skip:skip+whole], unix.MADV_POPULATE_WRITE)
		}
	}
	return b
}

// PrepareBuffers allocates and faults in k read buffers (at most
// maxFreeBufs), so that the first verified reads of a fresh process do not
// pay for it. Servers call it in the background at start.
func PrepareBuffers(k int) {
	k = min(k, maxFreeBufs)
	bufs := make([][]byte, 0, k)
	for range k {
		bufs = append(bufs, newPopulatedBuf(verifiedBufSize))
	}
	for _, b := range bufs {
		putVerifiedBuf(b)
	}
}

// Copy returns a new Verified holding a copy of bytes [off, off+n) of v's
// (clipped to them), for serving part of verified bytes that v's owner is
// still using. It returns nil if v was released or off is outside.
func (v *Verified) Copy(off, n int) *Verified {
	if v.data == nil || off < 0 || n < 0 || off > len(v.data) {
		return nil
	}
	n = min(n, len(v.data)-off)
	buf := getVerifiedBuf(n)
	return &Verified{buf: buf, data: buf[:copy(buf[:n], v.data[off:off+n])]}
}
