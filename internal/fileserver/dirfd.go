package fileserver

import (
	"path"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Lookups relative to the parent directory.
//
// A LOOKUP of name in a directory of a chroot mount is one fstatat(2) of
// that single component, relative to an O_PATH fd of the parent's host
// directory that the directory node keeps, instead of an openat2 of the
// whole mount-relative path from the mount's root plus fstat and close. The
// component is never "", "." or ".." and has no "/" (validName), and
// AT_SYMLINK_NOFOLLOW keeps a final symlink a symlink, so the lookup cannot
// leave the directory; the directory fd itself was opened by the confined
// openat2 (chroot.open). Python probes some sixty names at start, and each
// openat2 allocates and frees a struct file: about half of the server's
// time per LOOKUP.
//
// The fd follows the directory, not its path: if the host later moves the
// directory (even out of the mount), lookups under it see the moved
// directory's entries until the kernel forgets the node, and if the host
// removes and recreates it, they see none. That gives the host nothing it
// does not have anyway (it can put any file into the mount); reads and
// writes of non-trusted files still resolve their path from the mount's
// root, and trusted files are read by their host path and verified.
//
// At most maxDirFds directories hold an fd at a time, so that walking a
// large tree cannot exhaust the server's fds; lookups in the others resolve
// from the mount's root as before.
const maxDirFds = 2048

// dirFd is a directory node's host directory fd, opened on first use.
type dirFd struct {
	mu   sync.Mutex
	fd   int // fd+1: 0 means not opened
	be   *chroot
	root bool // fd is the mount's rootFd: not ours to close
}

// get returns an O_PATH fd of directory rel of c, opening it on first use,
// or -1 if it cannot be opened (the caller then resolves from the root).
func (f *dirFd) get(c *chroot, rel string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd > 0 {
		if f.be == c {
			return f.fd - 1
		}
		return -1
	}
	if rel == "" {
		f.fd, f.be, f.root = c.rootFd+1, c, true
		return c.rootFd
	}
	if c.s.dirFds.Add(1) > maxDirFds {
		c.s.dirFds.Add(-1)
		return -1
	}
	fd, err := c.open(rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		c.s.dirFds.Add(-1)
		return -1
	}
	f.fd, f.be = fd+1, c
	return fd
}

// close releases the fd (at forget).
func (f *dirFd) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd > 0 && !f.root {
		unix.Close(f.fd - 1)
		f.be.s.dirFds.Add(-1)
	}
	// root too: a later get may open an fd of its own, which close must
	// then close.
	f.fd, f.be, f.root = 0, nil, false
}

var _ fs.NodeOnForgetter = (*dirNode)(nil)

// OnForget closes the directory's host fd once the kernel forgot the node.
func (d *dirNode) OnForget() { d.hostDir.close() }

// lookupChild looks up rel (the child named name of this directory, whose
// view path is dirView) in mount m: relative to this directory's host fd
// when this directory is a directory of the same chroot mount, else from
// the mount's root.
func (d *dirNode) lookupChild(m *mountEntry, dirView, rel, name string) (hostEntry, syscall.Errno) {
	c, ok := m.be.(*chroot)
	if !ok || c.isFile() || rel == "" || path.Base(rel) != name {
		return m.be.lookup(rel)
	}
	pm, prel := d.backing(dirView)
	if pm != m || (prel != "" && prel+"/"+name != rel) || (prel == "" && rel != name) {
		return m.be.lookup(rel)
	}
	fd := d.hostDir.get(c, prel)
	if fd < 0 {
		return m.be.lookup(rel)
	}
	return c.lookupAt(fd, rel, name)
}

// lookupAt is lookup for rel, which is name in the host directory dirFd.
// Protected paths (protect.go) are refused by name and by inode.
func (c *chroot) lookupAt(dirFd int, rel, name string) (hostEntry, syscall.Errno) {
	if pp, ok := c.s.prot.named(dirFd, name); ok {
		return hostEntry{}, c.s.refuse("lookup", pp, c.hostPath(rel))
	}
	e, done, errno := c.trustedEntry(rel)
	if done {
		return e, errno
	}
	for {
		err := unix.Fstatat(dirFd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if pp, ok := c.s.prot.dir(&e.st); ok && err == nil {
			return hostEntry{}, c.s.refuse("lookup", pp, e.host)
		}
		return e, fs.ToErrno(err)
	}
}
