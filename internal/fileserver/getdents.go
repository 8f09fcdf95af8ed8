package fileserver

import (
	"encoding/binary"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// readDirFd lists the open directory fd with getdents64 into a pooled 32
// KiB buffer: python lists every directory on sys.path at start, and
// os.File.ReadDir (8 KiB getdents, an os.DirEntry and a name string per
// entry, an epoll registration per directory) cost about as much again as
// the kernel's own listing. symlink reports the type to present for a
// symlink named name. "." and ".." are left out. Entries whose type the
// host filesystem does not record (DT_UNKNOWN) are typed with fstatat.
func readDirFd(fd int, symlink func(name string) uint32) ([]fuse.DirEntry, syscall.Errno) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var out []fuse.DirEntry
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		if n <= 0 {
			return out, 0
		}
		if out == nil {
			out = make([]fuse.DirEntry, 0, n/32)
		}
		var errno syscall.Errno
		if out, errno = parseDirents(fd, buf[:n], out, symlink); errno != 0 {
			return nil, errno
		}
	}
}

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// parseDirents appends the linux_dirent64 records in b (ino u64, off s64,
// reclen u16, type u8, NUL-terminated name) to out.
func parseDirents(fd int, b []byte, out []fuse.DirEntry, symlink func(string) uint32) ([]fuse.DirEntry, syscall.Errno) {
	const hdr = 19 // offset of d_name
	for len(b) >= hdr {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < hdr || reclen > len(b) {
			return out, syscall.EIO // malformed: never from a sane kernel
		}
		typ, nameb := b[18], b[hdr:reclen]
		b = b[reclen:]
		for i, c := range nameb {
			if c == 0 {
				nameb = nameb[:i]
				break
			}
		}
		if len(nameb) == 0 || string(nameb) == "." || string(nameb) == ".." {
			continue
		}
		name := string(nameb)
		var mode uint32
		switch typ {
		case unix.DT_DIR:
			mode = unix.S_IFDIR
		case unix.DT_LNK:
			mode = symlink(name)
		case unix.DT_FIFO:
			mode = unix.S_IFIFO
		case unix.DT_SOCK:
			mode = unix.S_IFSOCK
		case unix.DT_CHR:
			mode = unix.S_IFCHR
		case unix.DT_BLK:
			mode = unix.S_IFBLK
		case unix.DT_UNKNOWN:
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // gone since the listing, as os.ReadDir does
			}
			mode = st.Mode & unix.S_IFMT
			if mode == unix.S_IFLNK {
				mode = symlink(name)
			}
		default:
			mode = unix.S_IFREG // also for types without a name here
		}
		out = append(out, fuse.DirEntry{Name: name, Mode: mode})
	}
	return out, 0
}
