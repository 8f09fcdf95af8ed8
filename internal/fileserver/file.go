package fileserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// LevelTrace is the level of per-request logs (every verified read); it
// matches cmd/nacre's "trace".
const LevelTrace = slog.LevelDebug - 4

// fileNode is a regular (or special) file of a chroot mount or an alias. It
// has no per-open state: the server runs in no_open mode, so reads and writes
// arrive without a handle and use one host fd per inode.
type fileNode struct {
	fs.Inode
	noXattr
	s     *Server
	be    backend // nil for an alias, which is opened by its host path
	host  string  // host path when looked up (trusted files and aliases keep it)
	class fileClass
	st    unix.Stat_t // attributes at lookup, for trusted files

	mu       sync.Mutex
	tf       *trustedfs.File // trusted: opened at the first read
	fd       int             // others: host fd, -1 until first used
	writable bool            // fd is open for writing
	oldFds   []int           // replaced fds, closed at forget

	ahead atomic.Pointer[aheadState] // trusted ELF files: verify-ahead (ahead.go)
	cp    copyState                  // trusted files: verified copy (copy.go)
}

var (
	_ fs.NodeOpener      = (*fileNode)(nil)
	_ fs.NodeReader      = (*fileNode)(nil)
	_ fs.NodeWriter      = (*fileNode)(nil)
	_ fs.NodeGetattrer   = (*fileNode)(nil)
	_ fs.NodeSetattrer   = (*fileNode)(nil)
	_ fs.NodeFsyncer     = (*fileNode)(nil)
	_ fs.NodeFlusher     = (*fileNode)(nil)
	_ fs.NodeAllocater   = (*fileNode)(nil)
	_ fs.NodeOnForgetter = (*fileNode)(nil)
)

func newFileNode(s *Server, be backend, e hostEntry) *fileNode {
	return &fileNode{s: s, be: be, host: e.host, class: e.class, st: e.st, fd: -1}
}

// Flush answers ENOSYS, so the kernel stops sending FLUSH on every close:
// there is no per-open state to flush, and writes are not cached.
func (n *fileNode) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

func (n *fileNode) view() string { return viewPath(&n.Inode) }

// rel is the node's current path relative to its mount (it follows renames).
func (n *fileNode) rel() string {
	_, rel := n.s.mountFor(n.view())
	return rel
}

// trusted returns the verifying reader, opening it on first use. Without a
// chunk index this hashes the whole file.
func (n *fileNode) trusted() (*trustedfs.File, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tf != nil {
		return n.tf, nil
	}
	// Followed symlinks are fine here: every byte is verified.
	f, err := os.Open(n.host)
	if err != nil {
		return nil, err
	}
	tf, err := n.s.trusted.Open(n.host, f)
	if err != nil {
		return nil, err
	}
	tf.DropHostCache = n.s.dropAbove >= 0 && tf.Size() > n.s.dropAbove
	n.s.log.Debug("fileserver: trusted file opened", "path", n.view(), "host", n.host, "size", tf.Size())
	n.tf = tf
	return tf, nil
}

// Access wanted from hostFd.
const (
	fdRead     = iota // read-only is enough
	fdWrite           // must be writable
	fdTryWrite        // writable if possible, else read-only (before unlink)
)

// hostFd returns the host fd of a non-trusted file. Reads open it read-only:
// a host file held open for writing cannot be executed (ETXTBSY), on the host
// or by the app. The first write reopens it read-write.
func (n *fileNode) hostFd(want int) (int, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd >= 0 && (n.writable || want == fdRead) {
		return n.fd, 0
	}
	open := func(flags int) (int, error) {
		if n.be == nil {
			return unix.Open(n.host, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		}
		return n.be.openFile(n.rel(), flags)
	}
	var fd int
	var err error
	writable := false
	if want != fdRead {
		fd, err = open(unix.O_RDWR)
		writable = err == nil
	}
	if want == fdRead || (want == fdTryWrite && err != nil && n.fd < 0) {
		fd, err = open(unix.O_RDONLY)
	}
	if err != nil {
		if want == fdTryWrite && n.fd >= 0 {
			return n.fd, 0
		}
		return -1, fs.ToErrno(err)
	}
	if n.fd >= 0 {
		// A READ may still be splicing from the old fd (ReadResultFd is
		// consumed after Read returns): close it only at forget.
		n.oldFds = append(n.oldFds, n.fd)
	}
	n.fd, n.writable = fd, writable
	return fd, 0
}

// adoptFd makes fd (open read-write) the node's host fd.
func (n *fileNode) adoptFd(fd int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd >= 0 {
		n.oldFds = append(n.oldFds, n.fd)
	}
	n.fd, n.writable = fd, true
}

func (n *fileNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	switch n.class {
	case classTrusted:
		if f, size := n.copyFile(); f != nil && n.hostUnchanged() {
			return n.readCopy(f, size, dest, off)
		}
		tf, err := n.trusted()
		if err == nil {
			v := n.fromAhead(off, len(dest), tf.Size())
			if v == nil {
				done, alone := n.beforeTrustedRead(off, len(dest))
				if alone {
					v, err = tf.ReadVerified(off, len(dest))
				} else {
					v, err = tf.ReadAhead(off, len(dest))
				}
				done()
			}
			if err == nil || err == io.EOF {
				m := len(v.Bytes())
				if n.s.log.Enabled(ctx, LevelTrace) {
					n.s.log.Log(ctx, LevelTrace, "fileserver: verified read", "path", n.view(), "host", n.host, "off", off, "len", m)
				}
				if m == 0 {
					// go-fuse calls Done only on non-empty results.
					v.Release()
					return fuse.ReadResultData(nil), 0
				}
				n.afterTrustedRead(tf, off, v.Bytes())
				n.cp.paged.Store(true)
				r := &verifiedReply{v: v, n: n, b: n.builder(tf), off: off}
				if r.b != nil {
					n.s.cw.replies.Add(1) // until Done hands the bytes to the copy writer
				}
				return r, 0
			}
		}
		n.reportTrusted(err)
		return nil, syscall.EIO
	case classDenied:
		return nil, syscall.EACCES
	}
	if n.class == classLogged {
		n.s.warnOnce(n.view(), n.host)
	}
	fd, errno := n.hostFd(fdRead)
	if errno != 0 {
		return nil, errno
	}
	// Unverified data may be spliced.
	return fuse.ReadResultFd(uintptr(fd), off, len(dest)), 0
}

func (n *fileNode) reportTrusted(err error) {
	if errors.Is(err, trustedfs.ErrHashMismatch) {
		n.s.log.Error("fileserver: trusted file hash mismatch", "path", n.view(), "host", n.host, "err", err)
		return
	}
	n.s.log.Error("fileserver: trusted file unreadable", "path", n.view(), "host", n.host, "err", err)
}

func (n *fileNode) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if !n.class.writable() {
		return 0, syscall.EACCES
	}
	if n.class == classLogged {
		n.s.warnOnce(n.view(), n.host)
	}
	fd, errno := n.hostFd(fdWrite)
	if errno != 0 {
		return 0, errno
	}
	w, err := unix.Pwrite(fd, data, off)
	return uint32(w), fs.ToErrno(err)
}

func (n *fileNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.class == classTrusted {
		st := n.st
		n.mu.Lock()
		if n.tf != nil {
			st.Size = n.tf.Size()
		}
		n.mu.Unlock()
		n.s.fillAttr(&out.Attr, &st, n.class, false)
		return 0
	}
	var st unix.Stat_t
	n.mu.Lock()
	fd := n.fd
	var err error
	if fd >= 0 {
		err = unix.Fstat(fd, &st)
	}
	n.mu.Unlock()
	if fd < 0 {
		if n.be == nil {
			err = unix.Stat(n.host, &st)
		} else {
			var e hostEntry
			var errno syscall.Errno
			if e, errno = n.be.lookup(n.rel()); errno != 0 {
				return errno
			}
			st = e.st
		}
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	n.s.fillAttr(&out.Attr, &st, n.class, false)
	return 0
}

func (n *fileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if !n.class.writable() {
		return syscall.EACCES
	}
	rw := -1
	if in.Valid&fuse.FATTR_SIZE != 0 {
		fd, errno := n.hostFd(fdWrite)
		if errno != 0 {
			return errno
		}
		rw = fd
	}
	var pfd int
	var err error
	if n.be == nil {
		pfd, err = unix.Open(n.host, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	} else {
		pfd, err = n.be.openFile(n.rel(), unix.O_PATH)
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	defer unix.Close(pfd)
	if errno := n.s.applySetattr(pfd, rw, in); errno != 0 {
		return errno
	}
	return n.Getattr(ctx, f, out)
}

func (n *fileNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	n.mu.Lock()
	fd := n.fd
	n.mu.Unlock()
	if fd < 0 || !n.class.writable() {
		return 0
	}
	return fs.ToErrno(unix.Fsync(fd))
}

func (n *fileNode) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if !n.class.writable() {
		return syscall.EACCES
	}
	fd, errno := n.hostFd(fdWrite)
	if errno != 0 {
		return errno
	}
	return fs.ToErrno(unix.Fallocate(fd, mode, int64(off), int64(size)))
}

// OnForget closes the host file once the kernel forgot the inode.
func (n *fileNode) OnForget() {
	n.forgetCopy()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tf != nil {
		n.tf.Close()
		n.tf = nil
	}
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	for _, fd := range n.oldFds {
		unix.Close(fd)
	}
	n.oldFds = nil
}

// applySetattr applies SETATTR to the file behind pathFd (any fd, possibly
// O_PATH, used through /proc/self/fd) and, for truncation, rwFd.
func (s *Server) applySetattr(pathFd, rwFd int, in *fuse.SetAttrIn) syscall.Errno {
	if in.Valid&fuse.FATTR_MODE != 0 {
		if err := unix.Chmod(procPath(pathFd), in.Mode&0o7777); err != nil {
			return fs.ToErrno(err)
		}
	}
	// The host ids do not mean anything in the sandbox: accept only no-op
	// changes, so that tools that chown to the owner they see still work.
	if in.Valid&fuse.FATTR_UID != 0 && in.Owner.Uid != s.cfg.UID {
		return syscall.EPERM
	}
	if in.Valid&fuse.FATTR_GID != 0 && in.Owner.Gid != s.cfg.GID {
		return syscall.EPERM
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		if rwFd < 0 {
			return syscall.EISDIR
		}
		if err := unix.Ftruncate(rwFd, int64(in.Size)); err != nil {
			return fs.ToErrno(err)
		}
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME|fuse.FATTR_ATIME_NOW|fuse.FATTR_MTIME_NOW) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		switch {
		case in.Valid&fuse.FATTR_ATIME_NOW != 0:
			ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
		case in.Valid&fuse.FATTR_ATIME != 0:
			ts[0] = unix.Timespec{Sec: int64(in.Atime), Nsec: int64(in.Atimensec)}
		}
		switch {
		case in.Valid&fuse.FATTR_MTIME_NOW != 0:
			ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
		case in.Valid&fuse.FATTR_MTIME != 0:
			ts[1] = unix.Timespec{Sec: int64(in.Mtime), Nsec: int64(in.Mtimensec)}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(pathFd), ts, 0); err != nil {
			return fs.ToErrno(err)
		}
	}
	return 0
}
