package fileserver

import (
	"fmt"
	"path"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// chroot is the backend of a host directory or a single host file.
type chroot struct {
	s      *Server
	host   string // as configured, cleaned: names host paths for classification
	rootFd int    // O_PATH fd of the host directory (or of a file mount's parent)
	file   string // base name for a single-file mount, "" for a directory
}

// resolveHow confines resolution to the mount and refuses every symlink.
var resolveHow = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

func newChroot(s *Server, host string) (*chroot, error) {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return nil, fmt.Errorf("host path %s: %w", host, err)
	}
	c := &chroot{s: s, host: host}
	dir := host
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		dir, c.file = path.Split(host)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open host directory %s: %w", dir, err)
	}
	c.rootFd = fd
	return c, nil
}

func (c *chroot) close() {
	if c.rootFd > 0 {
		unix.Close(c.rootFd)
		c.rootFd = -1
	}
}

func (c *chroot) isFile() bool { return c.file != "" }

func (c *chroot) hostPath(rel string) string {
	if c.file != "" {
		return c.host
	}
	if rel == "" {
		return c.host
	}
	return path.Join(c.host, rel)
}

// open resolves rel beneath the mount's root without following any symlink.
func (c *chroot) open(rel string, flags int) (int, error) {
	p := rel
	switch {
	case c.file != "":
		p = c.file
	case p == "":
		p = "."
	}
	for {
		fd, err := unix.Openat2(c.rootFd, p, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
			Mode:    0,
			Resolve: uint64(resolveHow),
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// openParent opens the directory holding rel and returns rel's last component.
func (c *chroot) openParent(rel string) (int, string, error) {
	if c.file != "" || rel == "" {
		return -1, "", syscall.EPERM
	}
	dir, name := path.Split(rel)
	fd, err := c.open(path.Clean(dir+"."), unix.O_RDONLY|unix.O_DIRECTORY)
	return fd, name, err
}

func (c *chroot) lookup(rel string) (hostEntry, syscall.Errno) {
	if pp, ok := c.protectedName(rel); ok {
		return hostEntry{}, c.s.refuse("lookup", pp, c.hostPath(rel))
	}
	e, done, errno := c.trustedEntry(rel)
	if done {
		return e, errno
	}
	fd, err := c.open(rel, unix.O_PATH)
	if err != nil {
		return e, fs.ToErrno(err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &e.st); err != nil {
		return e, fs.ToErrno(err)
	}
	if pp, ok := c.s.prot.dir(&e.st); ok {
		return hostEntry{}, c.s.refuse("lookup", pp, e.host)
	}
	return e, 0
}

// trustedEntry starts a lookup of rel: its host path and class, and for a
// trusted non-directory the whole answer (done). Trusted content is
// verified, so its host path may be a symlink (see the package doc); the
// view shows a regular file of the manifest's size.
func (c *chroot) trustedEntry(rel string) (e hostEntry, done bool, errno syscall.Errno) {
	e = hostEntry{host: c.hostPath(rel)}
	e.class = c.s.classify(e.host)
	if e.class != classTrusted {
		return e, false, 0
	}
	if err := unix.Stat(e.host, &e.st); err != nil {
		return e, true, fs.ToErrno(err)
	}
	if e.st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if pp, ok := c.s.prot.dir(&e.st); ok {
			return hostEntry{}, true, c.s.refuse("lookup", pp, e.host)
		}
		return e, false, 0
	}
	if size, ok := c.s.trusted.Size(e.host); ok {
		e.st.Size = size
	}
	return e, true, 0
}

func (c *chroot) newNode(rel string, e hostEntry) fs.InodeEmbedder {
	if e.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &linkNode{s: c.s, be: c}
	}
	return newFileNode(c.s, c, e)
}

func (c *chroot) readdir(rel string) ([]fuse.DirEntry, syscall.Errno) {
	fd, err := c.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	defer unix.Close(fd)
	dir := c.hostPath(rel)
	return readDirFd(fd, func(name string) uint32 {
		if c.s.trusted.Contains(path.Join(dir, name)) {
			return unix.S_IFREG // presented as the verified file
		}
		return unix.S_IFLNK
	})
}

func (c *chroot) readlink(rel string) ([]byte, syscall.Errno) {
	fd, err := c.open(rel, unix.O_PATH)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return buf[:n], 0
}

// procPath names an fd through /proc, to apply calls that have no fd variant
// accepting O_PATH fds (chmod, utimes) to exactly the resolved file.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func (c *chroot) setattrDir(rel string, in *fuse.SetAttrIn) syscall.Errno {
	fd, err := c.open(rel, unix.O_PATH)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer unix.Close(fd)
	return c.s.applySetattr(fd, -1, in)
}

func (c *chroot) statfs(out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	if err := unix.Fstatfs(c.rootFd, &st); err != nil {
		return fs.ToErrno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize, out.NameLen = uint32(st.Bsize), uint32(st.Frsize), uint32(st.Namelen)
	return 0
}

// inParent runs op, which creates, removes or renames name, on the
// directory holding rel, unless rel is a protected path (protect.go): the
// check and the op use the same directory fd.
func (c *chroot) inParent(rel string, op func(dirfd int, name string) error) syscall.Errno {
	dfd, name, err := c.openParent(rel)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer unix.Close(dfd)
	if pp, ok := c.s.prot.changeAt(dfd, name); ok {
		return c.s.refuse("change", pp, c.hostPath(rel))
	}
	return fs.ToErrno(op(dfd, name))
}

func (c *chroot) mkdir(rel string, mode uint32) (hostEntry, syscall.Errno) {
	if errno := c.inParent(rel, func(d int, n string) error { return unix.Mkdirat(d, n, mode) }); errno != 0 {
		return hostEntry{}, errno
	}
	return c.lookup(rel)
}

func (c *chroot) create(rel string, flags, mode uint32) (hostEntry, int, syscall.Errno) {
	fd := -1
	errno := c.inParent(rel, func(d int, n string) error {
		var err error
		fd, err = unix.Openat(d, n, int(flags&(unix.O_EXCL|unix.O_TRUNC))|unix.O_CREAT|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		return err
	})
	if errno != 0 {
		return hostEntry{}, -1, errno
	}
	e, errno := c.lookup(rel)
	if errno != 0 {
		unix.Close(fd)
		return e, -1, errno
	}
	return e, fd, 0
}

func (c *chroot) symlink(target, rel string) (hostEntry, syscall.Errno) {
	if errno := c.inParent(rel, func(d int, n string) error { return unix.Symlinkat(target, d, n) }); errno != 0 {
		return hostEntry{}, errno
	}
	return c.lookup(rel)
}

func (c *chroot) unlink(rel string) syscall.Errno {
	return c.inParent(rel, func(d int, n string) error { return unix.Unlinkat(d, n, 0) })
}

func (c *chroot) rmdir(rel string) syscall.Errno {
	return c.inParent(rel, func(d int, n string) error {
		if pp, ok := c.s.prot.ancestor(d, n); ok {
			return c.s.refuse("rmdir", pp, c.hostPath(rel))
		}
		return unix.Unlinkat(d, n, unix.AT_REMOVEDIR)
	})
}

func (c *chroot) rename(from, to string, flags uint32) syscall.Errno {
	return c.inParent(from, func(fd int, fname string) error {
		// Moving a protected directory's ancestor away would let the app
		// put a fresh directory (not the one checked at start) in its place.
		if pp, ok := c.s.prot.ancestor(fd, fname); ok {
			return c.s.refuse("rename", pp, c.hostPath(from))
		}
		if errno := c.inParent(to, func(td int, tname string) error {
			if pp, ok := c.s.prot.ancestor(td, tname); ok {
				return c.s.refuse("rename", pp, c.hostPath(to))
			}
			return unix.Renameat2(fd, fname, td, tname, uint(flags))
		}); errno != 0 {
			return errno
		}
		return nil
	})
}

func (c *chroot) openFile(rel string, flags int) (int, error) { return c.open(rel, flags) }
