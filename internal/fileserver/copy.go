package fileserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/trustedfs"
	"github.com/nacre-tee/nacre/internal/verifiedcache"
)

// Verified copies (internal/verifiedcache, "Verified copies" in the package
// doc). A trusted file whose copy is in the store is served from the copy:
// with FUSE passthrough to it when the connection has it (open.go), else by
// READs answered with pread from it. On a miss, the bytes that the verifying
// READ path and the verify-ahead hand to the kernel are also written into a
// copy under construction, from a goroutine (the reply does not wait for
// it), and the copy is published once every page of the file was written.

// copyState is a trusted file's relation to the store.
type copyState struct {
	mu      sync.Mutex
	looked  bool                   // the store was asked for a copy
	f       *os.File               // the copy, once found or built
	size    int64                  // its size (the manifest's)
	b       *verifiedcache.Builder // copy under construction, or nil
	tried   bool                   // a Builder was started (or refused)
	forgot  bool                   // the kernel forgot the inode
	cached  int                    // open handles in cached (page cache) mode
	through int                    // open handles in passthrough mode
	paged   atomic.Bool            // READs put pages of it in the FUSE page cache
}

// copyStats count what the store did for this server (tests, debugging).
type copyStats struct {
	hits, served, passthrough, built atomic.Int64
}

// copyKey returns the store key and manifest size of a trusted node; false
// without a chunk-index entry (the size is then only known after hashing).
// The key binds the manifest's whole-file SHA-256, the size and the chunk
// hashes the bytes are verified against (trustedfs.Set.CopyID), and the host
// file's identity at lookup (see hostUnchanged): a copy is found only by a
// run that would verify the same bytes from the same, unchanged host file.
func (n *fileNode) copyKey() ([32]byte, int64, bool) {
	sum, size, chunks, ok := n.s.trusted.CopyID(n.host)
	if !ok {
		return sum, 0, false
	}
	return copyKeyFor(sum, size, chunks, &n.st), size, true
}

// copyKeyFor is the store key of a file with whole-file SHA-256 sum, size
// and chunk-list digest chunks, held by the host file with attributes st.
func copyKeyFor(sum [32]byte, size int64, chunks [32]byte, st *unix.Stat_t) [32]byte {
	h := sha256.New()
	h.Write(sum[:])
	h.Write(chunks[:])
	var id [56]byte
	binary.LittleEndian.PutUint64(id[0:], uint64(size))
	binary.LittleEndian.PutUint64(id[8:], st.Dev)
	binary.LittleEndian.PutUint64(id[16:], st.Ino)
	binary.LittleEndian.PutUint64(id[24:], uint64(st.Mtim.Sec))
	binary.LittleEndian.PutUint64(id[32:], uint64(st.Mtim.Nsec))
	binary.LittleEndian.PutUint64(id[40:], uint64(st.Ctim.Sec))
	binary.LittleEndian.PutUint64(id[48:], uint64(st.Ctim.Nsec))
	h.Write(id[:])
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// hostUnchanged reports whether the host file still has the identity
// (device, inode, mtime, ctime) it had at lookup. This is not what makes a
// copy safe (its bytes were verified, and the host could forge times); it
// keeps the promise that a trusted file changed on the host after signing
// fails to read, loudly, rather than being served silently from the copy
// of its signed bytes: a changed file takes the verifying path, which
// fails. One stat per READ, against a round trip of ~20 µs.
func (n *fileNode) hostUnchanged() bool {
	var st unix.Stat_t
	for {
		err := unix.Stat(n.host, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		break
	}
	return st.Dev == n.st.Dev && st.Ino == n.st.Ino && st.Mtim == n.st.Mtim && st.Ctim == n.st.Ctim
}

// copyFile returns the node's verified copy and its size, asking the store
// once per inode.
func (n *fileNode) copyFile() (*os.File, int64) {
	if n.s.cache == nil {
		return nil, 0
	}
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.looked && !c.forgot {
		c.looked = true
		if sum, size, ok := n.copyKey(); ok {
			f, _ := n.s.cache.Lookup(sum, size) // a refused copy is a miss; the store logs it
			if f != nil {
				c.f, c.size = f, size
				n.s.copies.hits.Add(1)
				n.s.log.Debug("fileserver: copy hit", "path", n.view(), "host", n.host, "size", size)
			}
		}
	}
	return c.f, c.size
}

// readCopy answers a READ from the verified copy f of size bytes.
func (n *fileNode) readCopy(f *os.File, size int64, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.cp.paged.Store(true)
	if off >= size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	m := int(min(int64(len(dest)), size-off))
	buf := dest[:m]
	for k := 0; k < m; {
		r, err := f.ReadAt(buf[k:], off+int64(k)) // os.File: safe against a concurrent forgetCopy
		if err != nil || r == 0 {
			// A copy never shrinks unless someone of our uid cut it: fail
			// closed rather than serve less than the manifest's size.
			n.s.log.Error("fileserver: verified copy unreadable", "path", n.view(), "host", n.host, "off", off+int64(k), "err", err)
			return nil, syscall.EIO
		}
		k += r
	}
	n.s.copies.served.Add(1)
	if off == 0 && int64(m) < size && size <= aheadMax && n.st.Size == size && !n.s.noAhead &&
		bytes.HasPrefix(buf, elfMagic) && n.ahead.CompareAndSwap(nil, newAheadState(0)) {
		n.s.aheads.add(1)
		go n.copyAhead(f, size, int64(m))
	}
	return dataReply(buf), 0
}

// copyAhead is verify-ahead (ahead.go) for a program with a copy: it stores
// the rest of the file from the copy in the page cache, so that the loader's
// page faults need no READ. The bytes were verified when the copy was made.
func (n *fileNode) copyAhead(f *os.File, size, from int64) {
	defer n.s.aheads.add(-1)
	bp := aheadBufs.Get().(*[]byte)
	defer aheadBufs.Put(bp)
	buf := *bp
	for off := from; off < size; off += aheadStep {
		m := int(min(aheadStep, size-off))
		if _, err := f.ReadAt(buf[:m], off); err != nil {
			n.s.log.Debug("fileserver: copy-ahead stopped", "path", n.view(), "off", off, "err", err)
			return
		}
		if n.s.stopAhead.Load() {
			return // see StopAhead
		}
		if errno := n.WriteCache(off, buf[:m]); errno != 0 {
			n.s.log.Debug("fileserver: copy-ahead store failed", "path", n.view(), "off", off, "errno", errno)
			return
		}
	}
}

var aheadBufs = sync.Pool{New: func() any { b := make([]byte, aheadStep); return &b }}

// dataReply is a READ reply in go-fuse's request buffer, written with
// writev (not through go-fuse's splice attempt, see verifiedReply).
type dataReply []byte

func (r dataReply) Size() int                              { return len(r) }
func (r dataReply) Bytes(buf []byte) ([]byte, fuse.Status) { return r, fuse.OK }
func (r dataReply) Slices() ([][]byte, fuse.Status)        { return [][]byte{r}, fuse.OK }
func (r dataReply) Done()                                  {}

// builder returns the copy under construction for a trusted file opened as
// tf, starting it on first use, or nil (no store, a copy exists, the file
// is not one the store takes, or the copy was already finished).
func (n *fileNode) builder(tf *trustedfs.File) *verifiedcache.Builder {
	if n.s.cache == nil {
		return nil
	}
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tried || c.f != nil || c.forgot {
		return c.b
	}
	c.tried = true
	sum, size, ok := n.copyKey()
	if !ok || size != tf.Size() || (size > copyBuildMax && !n.s.cfg.Passthrough) {
		return nil
	}
	b, err := n.s.cache.NewBuilder(sum, size)
	if err != nil {
		n.s.log.Debug("fileserver: no copy", "path", n.view(), "err", err)
		return nil
	}
	c.b = b
	return b
}

// copyBuildMax bounds the files copied while they are read, unless
// Config.Passthrough is on: writing the copy costs CPU that a big file's
// first read needs (1 GiB first read measured 1.2-1.4 → 0.66-0.85 GB/s with
// the copy, on two loaded cores), and a big file gains from a copy only as
// passthrough's page-cache-speed re-reads.
const copyBuildMax = 64 << 20

// copyItem is verified bytes of a file (at off) to write into its copy.
type copyItem struct {
	n   *fileNode
	b   *verifiedcache.Builder
	off int64
	v   *trustedfs.Verified
}

// copyWriter writes copyItems on its own goroutine, so that a READ reply
// does not wait for the copy; when its queue is full the submitter writes
// itself, which bounds the buffers held.
type copyWriter struct {
	once sync.Once
	ch   chan copyItem
	busy aheadCount // items not yet written (Close waits for them)
	// replies counts READ replies whose bytes go to a copy once go-fuse
	// calls Done after writing them (just after the app's read returns).
	replies atomic.Int64
}

const copyQueue = 8

// submitCopy takes ownership of it.v: it is released once written.
func (s *Server) submitCopy(it copyItem) {
	if it.v == nil || len(it.v.Bytes()) == 0 {
		if it.v != nil {
			it.v.Release()
		}
		return
	}
	w := &s.cw
	w.once.Do(func() {
		w.ch = make(chan copyItem, copyQueue)
		go func() {
			for it := range w.ch {
				s.writeCopy(it)
			}
		}()
	})
	w.busy.add(1)
	select {
	case w.ch <- it:
	default:
		s.writeCopy(it)
	}
}

func (s *Server) writeCopy(it copyItem) {
	defer s.cw.busy.add(-1)
	complete, err := it.b.WriteAt(it.v.Bytes(), it.off)
	it.v.Release()
	if err != nil {
		// E.g. ENOSPC in the store: the app's read was answered already;
		// give this copy up rather than fail every later write to it.
		it.n.s.log.Debug("fileserver: copy abandoned", "path", it.n.view(), "err", err)
		it.n.dropBuilder(it.b)
		return
	}
	if complete {
		it.n.publishCopy(it.b)
	}
}

// dropBuilder aborts b and, if it is still the node's copy under
// construction, forgets it (no new Builder is started for the inode).
func (n *fileNode) dropBuilder(b *verifiedcache.Builder) {
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	b.Abort()
	if c.b == b {
		c.b = nil
	}
}

// publishCopy names the complete copy b and makes it the node's copy for
// later READs and OPENs.
func (n *fileNode) publishCopy(b *verifiedcache.Builder) {
	if err := b.Publish(); err != nil {
		if !errors.Is(err, os.ErrClosed) { // already published by another write
			n.s.log.Debug("fileserver: copy not published", "path", n.view(), "err", err)
		}
		return
	}
	n.s.copies.built.Add(1)
	n.s.log.Debug("fileserver: copy built", "path", n.view(), "host", n.host, "size", b.Size())
	sum, size, _ := n.copyKey()
	f, _ := n.s.cache.Lookup(sum, size)
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = nil
	if f == nil {
		return
	}
	if c.f != nil || c.forgot {
		f.Close()
		return
	}
	c.f, c.size, c.looked = f, size, true
}

// forgetCopy drops the node's copy state (OnForget).
func (n *fileNode) forgetCopy() {
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgot = true
	if c.b != nil {
		c.b.Abort()
		c.b = nil
	}
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// waitCopies waits until every submitted copy write is done.
func (s *Server) waitCopies() { s.cw.busy.wait() }

// FlushCopies waits until the verified bytes handed to the copy writer are
// written and every copy they complete is published. Call it once the app
// has exited, before nacre exits (Close does it too): the last files the app
// read are otherwise not in the store for the next run.
func (s *Server) FlushCopies() {
	// Done follows the reply's write by microseconds; a reply go-fuse drops
	// (an interrupted request) never gets it, so wait briefly, not forever.
	for i := 0; i < 20 && s.cw.replies.Load() > 0; i++ {
		time.Sleep(time.Millisecond)
	}
	s.waitCopies()
}
