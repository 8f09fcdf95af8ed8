package fileserver

import (
	"context"
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Passthrough to verified copies.
//
// FUSE passthrough (the kernel reads a registered backing file itself) is
// decided per OPEN, and OPEN is normally never sent: the server puts the
// kernel in no_open mode (Open answers ENOSYS). With a store of verified
// copies and a kernel that grants CAP_PASSTHROUGH to a server running as
// host root, Open answers instead: a trusted file with a copy and no open
// handle in cached mode gets FOPEN_PASSTHROUGH with the copy as backing
// file (go-fuse's bridge registers one backing id per inode through
// ptHandle.PassthroughFd and unregisters it with the last such handle);
// every other open gets a plain KEEP_CACHE reply, so the app sees the same
// page cache behaviour as in no_open mode. The kernel refuses a cached open
// of an inode while passthrough opens are open and vice versa (ETXTBSY), so
// the node counts both kinds and chooses passthrough only when no cached
// handle is open. Never is a host fd a backing file.
//
// If the kernel does not take a backing file after all (the OPEN reply
// lacks FOPEN_PASSTHROUGH, see openWatch), Open answers ENOSYS from then on
// and the connection falls back to no_open mode for good.

// markPassthrough is a private OpenOut flag bit (unused by the kernel):
// Open sets it on replies that asked for passthrough, openWatch strips it.
const markPassthrough = 1 << 31

// Open: see above and "Access decisions without OPEN" in the package doc.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !n.s.openMode.Load() {
		return nil, 0, syscall.ENOSYS
	}
	const keep = fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH
	switch n.class {
	case classDenied:
		return nil, 0, syscall.EACCES
	case classTrusted:
	default:
		return nil, keep, 0
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EACCES
	}
	f, _ := n.copyFile()
	if f != nil && !n.hostUnchanged() {
		f = nil // changed on the host: the verifying path reads it, and fails
	}
	c := &n.cp
	c.mu.Lock()
	defer c.mu.Unlock()
	if f != nil && c.cached == 0 && !c.forgot {
		c.through++
		if c.paged.Swap(false) {
			// Its pages were verified and cached by READs earlier; the
			// copy serves it now, so do not keep it in memory twice.
			go n.NotifyContent(0, 0)
		}
		n.s.copies.passthrough.Add(1)
		n.s.log.Debug("fileserver: copy passthrough", "path", n.view(), "host", n.host)
		return &ptHandle{n: n, f: f}, keep | markPassthrough, 0
	}
	c.cached++
	return &cachedHandle{n: n}, keep, 0
}

// ptHandle is an open of a trusted file passed through to its copy.
type ptHandle struct {
	n *fileNode
	f *os.File
}

var (
	_ fs.FilePassthroughFder = (*ptHandle)(nil)
	_ fs.FileReleaser        = (*ptHandle)(nil)
	_ fs.FileReleaser        = (*cachedHandle)(nil)
)

func (h *ptHandle) PassthroughFd() (int, bool) { return int(h.f.Fd()), true }

func (h *ptHandle) Release(ctx context.Context) syscall.Errno {
	h.n.cp.mu.Lock()
	h.n.cp.through--
	h.n.cp.mu.Unlock()
	return 0
}

// cachedHandle is an open of a trusted file served through the page cache.
type cachedHandle struct{ n *fileNode }

func (h *cachedHandle) Release(ctx context.Context) syscall.Errno {
	h.n.cp.mu.Lock()
	h.n.cp.cached--
	h.n.cp.mu.Unlock()
	return 0
}

// openWatch strips markPassthrough from OPEN replies and turns open mode off
// when the kernel did not get a backing file for one that asked (go-fuse's
// bridge then stops registering backing files for good).
type openWatch struct {
	fuse.RawFileSystem
	s *Server
}

func (w *openWatch) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := w.RawFileSystem.Open(cancel, in, out)
	if out.OpenFlags&markPassthrough != 0 {
		out.OpenFlags &^= markPassthrough
		if st.Ok() && out.OpenFlags&fuse.FOPEN_PASSTHROUGH == 0 && w.s.openMode.Swap(false) {
			w.s.log.Warn("fileserver: the kernel refused a verified copy as passthrough backing file; serving copies by READ")
		}
	}
	return st
}

// passthroughWanted reports whether the server should offer passthrough:
// a store of copies, Config.Passthrough and host root (registering a
// backing file needs CAP_SYS_ADMIN).
func (s *Server) passthroughWanted() bool {
	return s.cache != nil && s.cfg.Passthrough && os.Geteuid() == 0
}

// afterInit turns open mode off if the kernel did not grant passthrough.
func (s *Server) afterInit(srv *fuse.Server) {
	if !s.openMode.Load() {
		return
	}
	if ks := srv.KernelSettings(); ks == nil || ks.Flags64()&fuse.CAP_PASSTHROUGH == 0 {
		s.openMode.Store(false)
		s.log.Debug("fileserver: kernel offers no passthrough; serving copies by READ")
	}
}
