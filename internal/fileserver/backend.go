package fileserver

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// backend serves the subtree of one mount of the view. Paths are relative to
// the mount's root: "" is the root itself, components are separated by "/"
// and are never "." or "..". Directory nodes belong to the view (dirNode),
// which calls the backend; the backend creates the nodes of everything else.
//
// chroot (a host directory or file) is the first implementation; encrypted
// files and pseudo-filesystems are meant to become further ones.
type backend interface {
	// isFile reports whether the mount is a single file rather than a directory.
	isFile() bool
	// hostPath names rel on the host, for classification and logs.
	hostPath(rel string) string
	// lookup returns what rel is, without following a final symlink.
	lookup(rel string) (hostEntry, syscall.Errno)
	// newNode returns the node of a non-directory entry found by lookup or
	// made by create/symlink.
	newNode(rel string, e hostEntry) fs.InodeEmbedder
	// readdir lists directory rel (without "." and "..").
	readdir(rel string) ([]fuse.DirEntry, syscall.Errno)
	// readlink returns the target of symlink rel.
	readlink(rel string) ([]byte, syscall.Errno)
	// openFile opens non-directory rel for reading or writing, without
	// following a symlink.
	openFile(rel string, flags int) (int, error)
	// setattrDir changes the attributes of directory rel.
	setattrDir(rel string, in *fuse.SetAttrIn) syscall.Errno
	// statfs reports on the filesystem holding the mount.
	statfs(out *fuse.StatfsOut) syscall.Errno

	mkdir(rel string, mode uint32) (hostEntry, syscall.Errno)
	// create makes and opens a regular file, returning a read-write fd.
	create(rel string, flags, mode uint32) (hostEntry, int, syscall.Errno)
	symlink(target, rel string) (hostEntry, syscall.Errno)
	unlink(rel string) syscall.Errno
	rmdir(rel string) syscall.Errno
	// rename moves from to to, both in this backend.
	rename(from, to string, flags uint32) syscall.Errno

	close()
}

// hostEntry is a looked-up host file and the server's decision about it.
type hostEntry struct {
	host  string
	st    unix.Stat_t
	class fileClass
}

func (e *hostEntry) isDir() bool { return e.st.Mode&unix.S_IFMT == unix.S_IFDIR }
