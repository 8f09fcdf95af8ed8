package pffs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/nacre-tee/nacre/internal/pf"
)

// fileNode is one protected file. All opens of it, by every process of the
// application, share one pf.File (reference counted); it is closed, and so
// flushed, when the last open is released.
type fileNode struct {
	gofs.Inode
	fsys *FS

	// mu: write-locked to open, close, rename and to commit a shrink;
	// read-locked for reads and writes (pf.File locks itself).
	mu   sync.RWMutex
	refs int
	pf   *pf.File
	host *hostBacking
	hf   *os.File
	jr   *journal
	ro   bool // the host file could only be opened read-only

	// The kernel's writeback sends WRITEs concurrently and go-fuse serves
	// them in parallel, so they reach pf out of order: a write beyond the
	// end makes pf fill the gap with zeros (encrypted, maybe flushed and
	// journaled) that the next write overwrites. order makes concurrent
	// writes enter pf lowest offset first.
	order writeOrder
}

// writeOrder lets a write wait until every concurrent write at a lower
// offset is done. The lowest in-flight write never waits, so all finish.
// The kernel queues dozens of writeback WRITEs at once; only the new lowest
// waiter is woken when a write leaves (waking all of them to recheck costs
// a scheduling round per waiter between two WRITEs).
type writeOrder struct {
	mu       sync.Mutex
	inflight []*orderEntry
}

type orderEntry struct {
	off     int64
	wake    chan struct{} // closed when a waiting entry may run; nil if it ran at once
	running bool
}

// enter registers a write at off and waits for the lower ones; call the
// returned function when the write is done.
func (w *writeOrder) enter(off int64) (leave func()) {
	e := &orderEntry{off: off}
	w.mu.Lock()
	e.running = !w.lowerThan(off)
	if !e.running {
		e.wake = make(chan struct{})
	}
	w.inflight = append(w.inflight, e)
	w.mu.Unlock()
	if e.wake != nil {
		<-e.wake
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, o := range w.inflight {
			if o == e {
				w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
				break
			}
		}
		// Wake every waiter that now has no lower write in flight (the
		// lowest one, and any at the same offset).
		for _, o := range w.inflight {
			if !o.running && !w.lowerThan(o.off) {
				o.running = true
				close(o.wake)
			}
		}
	}
}

func (w *writeOrder) lowerThan(off int64) bool {
	for _, o := range w.inflight {
		if o.off < off {
			return true
		}
	}
	return false
}

var (
	_ gofs.NodeOpener    = (*fileNode)(nil)
	_ gofs.NodeGetattrer = (*fileNode)(nil)
	_ gofs.NodeSetattrer = (*fileNode)(nil)
)

func (n *fileNode) rel() string { return n.Path(nil) }

func (f *FS) pfOptions(jr *journal, readOnly bool) pf.Options {
	o := pf.Options{CacheNodes: f.cfg.CacheNodes, Logger: f.log, ReadOnly: readOnly}
	if !readOnly {
		o.EnableRecovery, o.RecoveryBacking = true, jr
	}
	return o
}

// install makes a freshly created pf.File the node's open file.
func (n *fileNode) install(p *pf.File, hb *hostBacking, hf *os.File, jr *journal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pf, n.host, n.hf, n.jr, n.refs, n.ro = p, hb, hf, jr, 1, false
}

// acquireLocked opens the file (or takes one more reference). n.mu is held
// for writing.
func (n *fileNode) acquireLocked(rel string) error {
	if n.refs > 0 {
		n.refs++
		return nil
	}
	fsys := n.fsys
	key, err := fsys.key(rel)
	if err != nil {
		return err
	}
	host := fsys.hostPath(rel)
	ro := false
	hf, err := os.OpenFile(host, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		ro = true
		hf, err = os.OpenFile(host, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return err
	}
	hb, err := newHostBacking(hf)
	if err != nil {
		_ = hf.Close()
		return err
	}
	jr := &journal{path: host + pf.RecoverySuffix}
	p, err := pf.Open(hb, fsys.boundPath(rel), key, fsys.pfOptions(jr, ro))
	if errors.Is(err, pf.ErrPathMismatch) && !ro && undoRename(hf, jr, fsys.boundPath(rel), key) {
		fsys.log.Warn("pffs: undid a rename interrupted by a crash", "file", fsys.appPath(rel))
		if hb, err = newHostBacking(hf); err == nil {
			p, err = pf.Open(hb, fsys.boundPath(rel), key, fsys.pfOptions(jr, ro))
		}
	}
	if err != nil {
		_ = hf.Close()
		_ = jr.close(false)
		return err
	}
	if !ro {
		// The file opened (after any roll-back): the journal is stale now,
		// and a stale journal must never be replayed into a later version
		// of the file (say one Gramine wrote without recovery).
		if err := jr.Truncate(0); err != nil {
			fsys.log.Warn("pffs: cannot clear a stale recovery journal", "file", fsys.appPath(rel), "err", err)
		}
	}
	if !ro && hb.phys > int64(pf.EncryptedSize(uint64(p.Size()))) {
		// A shrink whose cut was interrupted: node 0 on disk is
		// consistent, so the tail can go now.
		if err := hf.Sync(); err == nil {
			_ = hb.Truncate(int64(pf.EncryptedSize(uint64(p.Size()))))
			_ = hb.commit()
		}
	}
	n.pf, n.host, n.hf, n.jr, n.refs, n.ro = p, hb, hf, jr, 1, ro
	return nil
}

// releaseLocked drops one reference; the last one closes the pf.File
// (flushing it) and the host files.
func (n *fileNode) releaseLocked() error {
	if n.refs == 0 {
		return nil
	}
	n.refs--
	if n.refs > 0 {
		return nil
	}
	var err error
	if n.host.pendingShrink() {
		// Make node 0 with the new size durable, then cut the host file.
		if err = n.pf.Flush(); err == nil {
			err = n.host.commit()
		}
	}
	size := n.pf.Size()
	cerr := n.pf.Close()
	if err == nil {
		err = cerr
	}
	_ = n.jr.close(cerr == nil)
	var st syscall.Stat_t
	if err == nil && syscall.Fstat(int(n.hf.Fd()), &st) == nil {
		n.fsys.cacheSize(&st, size)
	}
	if herr := n.hf.Close(); err == nil {
		err = herr
	}
	n.pf, n.host, n.hf, n.jr = nil, nil, nil, nil
	return err
}

// unlinked is called after the host file was deleted or replaced: its
// journal path now belongs to nobody (or to another file). It reports
// whether the file is open (and so its journal was taken care of).
func (n *fileNode) unlinked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.jr == nil {
		return false
	}
	n.jr.detach()
	return true
}

// plainSize returns the plaintext size of the file at rel, whose host stat
// is st.
func (n *fileNode) plainSize(rel string, st *syscall.Stat_t) (int64, error) {
	n.mu.RLock()
	if n.refs > 0 {
		s := n.pf.Size()
		n.mu.RUnlock()
		return s, nil
	}
	n.mu.RUnlock()
	if s, ok := n.fsys.cachedSize(st); ok {
		return s, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.acquireLocked(rel); err != nil {
		return 0, err
	}
	s := n.pf.Size()
	return s, n.releaseLocked()
}

func (n *fileNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	rel := n.rel()
	n.mu.RLock()
	if n.refs > 0 {
		var st syscall.Stat_t
		err := syscall.Fstat(int(n.hf.Fd()), &st)
		size := n.pf.Size()
		n.mu.RUnlock()
		if err != nil {
			return gofs.ToErrno(err)
		}
		n.fsys.fillAttr(&out.Attr, &st, size)
		out.SetTimeout(cacheTime)
		return 0
	}
	n.mu.RUnlock()
	st, err := lstat(n.fsys.hostPath(rel))
	if err != nil {
		return gofs.ToErrno(err)
	}
	size, err := n.plainSize(rel, st)
	if err != nil {
		return n.fsys.errno("stat", rel, err)
	}
	n.fsys.fillAttr(&out.Attr, st, size)
	out.SetTimeout(cacheTime)
	return 0
}

func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	rel := n.rel()
	if size, ok := in.GetSize(); ok {
		n.mu.Lock()
		err := n.acquireLocked(rel)
		if err == nil {
			err = n.truncateLocked(int64(size))
			if rerr := n.releaseLocked(); err == nil {
				err = rerr
			}
		}
		n.mu.Unlock()
		if err != nil {
			return n.fsys.errno("truncate", rel, err)
		}
	}
	if errno := n.fsys.setMeta(n.fsys.hostPath(rel), in); errno != 0 {
		return errno
	}
	return n.Getattr(ctx, f, out)
}

func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	rel := n.rel()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.acquireLocked(rel); err != nil {
		return nil, 0, n.fsys.errno("open", rel, err)
	}
	if n.ro && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		_ = n.releaseLocked()
		return nil, 0, syscall.EACCES // the host file is read-only to nacre
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := n.truncateLocked(0); err != nil {
			_ = n.releaseLocked()
			return nil, 0, n.fsys.errno("open", rel, err)
		}
	}
	// The page cache stays valid across opens: nothing but this server
	// changes the plaintext.
	return &handle{n: n}, fuse.FOPEN_KEEP_CACHE, 0
}

// truncateLocked changes the size. A shrink is committed at once (flushed
// and synced): until a node 0 naming the smaller size is durable, the old
// node 0 still names the nodes beyond it, and pf's journal, which takes
// nodes past the end for absent, must not see them overwritten. The host
// file keeps its tail until fsync or the last close (hostBacking.commit):
// an O_TRUNC open is usually followed by a rewrite, which then overwrites
// the host file's blocks in place instead of freeing them all at the
// truncation and allocating them again (measured ~9 ms of CPU per 64 MiB
// on tmpfs, more on a disk filesystem). close(2) (FLUSH) cuts what is left.
func (n *fileNode) truncateLocked(size int64) error {
	shrink := size < n.pf.Size()
	if err := n.pf.Truncate(size); err != nil || !shrink {
		return err
	}
	return n.pf.Flush()
}

// rename rebinds the file from oldRel to newRel around hostRename.
func (n *fileNode) rename(oldRel, newRel string, hostRename func() error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.acquireLocked(oldRel); err != nil {
		return err
	}
	// Flush first so the rebinding flush journals node 0 alone (undoRename
	// relies on it).
	err := n.pf.Flush()
	if err == nil {
		err = n.pf.Rename(n.fsys.boundPath(newRel))
	}
	if err == nil {
		if err = hostRename(); err != nil {
			if rerr := n.pf.Rename(n.fsys.boundPath(oldRel)); rerr != nil {
				n.fsys.log.Error("pffs: host rename failed and the file could not be rebound to its old path",
					"file", n.fsys.appPath(oldRel), "err", rerr)
			}
		} else if jerr := n.jr.rename(n.fsys.hostPath(newRel) + pf.RecoverySuffix); jerr != nil {
			n.fsys.log.Warn("pffs: could not move the recovery journal with its file", "file", n.fsys.appPath(newRel), "err", jerr)
		}
	}
	if rerr := n.releaseLocked(); err == nil {
		err = rerr
	}
	return err
}

// handle is one open of a fileNode; all I/O goes to the node's shared
// pf.File (the kernel's writeback may use any open's handle anyway).
type handle struct {
	n        *fileNode
	released bool
}

var (
	_ gofs.FileReader    = (*handle)(nil)
	_ gofs.FileWriter    = (*handle)(nil)
	_ gofs.FileFsyncer   = (*handle)(nil)
	_ gofs.FileFlusher   = (*handle)(nil)
	_ gofs.FileReleaser  = (*handle)(nil)
	_ gofs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.n
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.pf == nil {
		return nil, syscall.EBADF
	}
	c, err := n.pf.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, n.fsys.errno("read", n.rel(), err)
	}
	return fuse.ReadResultData(dest[:c]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n := h.n
	// Wait before taking n.mu: a lower write may still need its read lock.
	leave := n.order.enter(off)
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.pf == nil {
		leave()
		return 0, syscall.EBADF
	}
	// The next write may enter pf as soon as this one has queued its
	// nodes; this one then seals them from data (go-fuse's request
	// buffer, valid until we return), concurrently with it.
	c, finish, err := n.pf.WriteAtSplit(data, off)
	leave()
	if finish != nil {
		finish()
	}
	if err != nil {
		return uint32(c), n.fsys.errno("write", n.rel(), err)
	}
	return uint32(c), 0
}

// Fsync makes every write so far durable: pf flushes through its journal and
// syncs, then a pending shrink is cut.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pf == nil {
		return syscall.EBADF
	}
	err := n.pf.Flush()
	if err == nil {
		err = n.host.commit()
	}
	return n.fsys.errno("fsync", n.rel(), err)
}

// Flush (close(2)) writes the file's changes to the host before close
// returns. Leaving them to RELEASE is not enough: RELEASE is asynchronous, and
// when the application's last process exits, the sandbox's mount namespace
// dies and the kernel aborts the connection, dropping RELEASEs not yet read.
// The kernel has written back the page cache before sending FLUSH. fsync
// still makes the changes durable (pf's journaled flush is crash-safe, not
// synced).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pf == nil {
		return 0
	}
	err := n.pf.Flush()
	if err == nil {
		// Node 0 is synced: cut a tail an O_TRUNC open kept (truncateLocked).
		err = n.host.commit()
	}
	return n.fsys.errno("close", n.rel(), err)
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if h.released {
		return 0
	}
	h.released = true
	if err := n.releaseLocked(); err != nil {
		return n.fsys.errno("close", n.rel(), err)
	}
	return 0
}

// Allocate supports plain fallocate (mode 0): it grows the file with zeros.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	n := h.n
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.pf == nil {
		return syscall.EBADF
	}
	if end := int64(off + size); end > n.pf.Size() {
		if err := n.pf.Truncate(end); err != nil {
			return n.fsys.errno("fallocate", n.rel(), err)
		}
	}
	return 0
}
