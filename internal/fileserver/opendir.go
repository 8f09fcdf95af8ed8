package fileserver

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// noOpendir puts the kernel in no_opendir mode, as Open does with no_open for
// files: the first OPENDIR is answered ENOSYS, after which the kernel sends
// no OPENDIR/RELEASEDIR pair per opendir(3) (two round trips per listing,
// ten per python3 start) and caches every directory listing
// (FOPEN_CACHE_DIR is its no_opendir default). READDIR then arrives without
// a handle, and only when the kernel's listing cache is empty; it is served
// from a handle this wrapper opens on go-fuse's node tree and keeps per
// directory for the follow-up READDIRs of the same listing (at growing
// offsets). A READDIR at offset 0 starts a new listing with a new handle; a
// READDIR at another offset without one (after FORGET) opens one and seeks.
type noOpendir struct {
	fuse.RawFileSystem

	mu      sync.Mutex
	handles map[uint64]uint64 // node id → go-fuse directory handle
}

func newNoOpendir(raw fuse.RawFileSystem) *noOpendir {
	return &noOpendir{RawFileSystem: raw, handles: map[uint64]uint64{}}
}

func (r *noOpendir) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

func (r *noOpendir) ReleaseDir(in *fuse.ReleaseIn) {
	if in.Fh != 0 { // never sent in no_opendir mode
		r.RawFileSystem.ReleaseDir(in)
	}
}

// Forget drops the node's listing handle with the kernel's reference: a
// later READDIR of the node, at any offset, opens a new one.
func (r *noOpendir) Forget(nodeID, nlookup uint64) {
	r.mu.Lock()
	fh, ok := r.handles[nodeID]
	delete(r.handles, nodeID)
	r.mu.Unlock()
	if ok {
		r.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: nodeID}, Fh: fh})
	}
	r.RawFileSystem.Forget(nodeID, nlookup)
}

func (r *noOpendir) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	if in.Fh != 0 {
		return r.RawFileSystem.ReadDir(cancel, in, out)
	}
	fh, st := r.handle(cancel, in)
	if !st.Ok() {
		return st
	}
	own := *in
	own.Fh = fh
	return r.RawFileSystem.ReadDir(cancel, &own, out)
}

// handle returns the directory handle for in.NodeId, a fresh one when the
// kernel starts a listing (offset 0).
func (r *noOpendir) handle(cancel <-chan struct{}, in *fuse.ReadIn) (uint64, fuse.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fh, ok := r.handles[in.NodeId]
	if ok && in.Offset != 0 {
		return fh, fuse.OK
	}
	if ok {
		delete(r.handles, in.NodeId)
		r.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: in.InHeader, Fh: fh})
	}
	var out fuse.OpenOut
	if st := r.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader, Flags: in.Flags}, &out); !st.Ok() {
		return 0, st
	}
	r.handles[in.NodeId] = out.Fh
	return out.Fh, fuse.OK
}
