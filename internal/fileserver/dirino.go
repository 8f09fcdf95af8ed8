package fileserver

import (
	"path"
	"sync"
)

// Mount points keep one FUSE node for the whole run.
//
// The kernel revalidates a cached dentry with a fresh LOOKUP whenever a
// path is used with O_EXCL semantics (mkdir, mknod, O_CREAT|O_EXCL, the
// target of a rename) or its entry has expired; if the reply names another
// node id, it invalidates the dentry, and that detaches every mount on it
// or below it. go-fuse gives a node with inode number 0 a fresh id at every
// lookup, so `mkdir -p /tmp/x` unmounted the tmpfs /tmp, and a mkdir on /dev
// or /proc took those away. So the directories that carry the sandbox's
// mounts (MountPoints) and every directory above them get an inode number
// fixed by their view path, and the app may not remove or rename them
// (EBUSY, as for a mount point). Other directories keep a fresh node per
// lookup: nothing is mounted on them, and a view path there may name
// another directory after a rename.
type dirInos struct {
	pinned map[string]bool // view paths of mount points and their ancestors

	mu   sync.Mutex
	next uint64
	ids  map[string]uint64
}

// dirInoBase keeps these numbers apart from go-fuse's automatic ones, which
// count up from FirstAutomaticIno (2).
const dirInoBase = 1 << 32

// pin marks mount point mp and the directories above it.
func (d *dirInos) pin(mp string) {
	if d.pinned == nil {
		d.pinned = map[string]bool{}
	}
	for p := path.Clean(mp); p != "/"; p = path.Dir(p) {
		d.pinned[p] = true
	}
}

// isPinned reports whether the directory at view path p carries a mount.
func (d *dirInos) isPinned(p string) bool { return d.pinned[p] }

// get returns the inode number for a directory at view path p: fixed for a
// pinned one, 0 (go-fuse picks a fresh one) for any other.
func (d *dirInos) get(p string) uint64 {
	if !d.pinned[p] {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]uint64{}
	}
	if n, ok := d.ids[p]; ok {
		return n
	}
	d.next++
	n := dirInoBase + d.next
	d.ids[p] = n
	return n
}
