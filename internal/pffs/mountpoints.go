package pffs

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Mount points of an encrypted root. Gramine mounts fs.mounts on top of an
// encrypted fs.root and makes a missing mount point a synthetic directory
// (LOOKUP_MAKE_SYNTHETIC); nothing is created in the host directory. pffs
// does the same: each mount point and its ancestors that the host directory
// lacks (or holds as a file) are virtual, empty, read-only directories,
// listed by their parent. An existing host directory is used as it is.

// mountPoints is the set of virtual paths of one FS, relative to its root
// without a leading slash.
type mountPoints struct {
	children map[string][]string // dir ("" is the root) -> sorted names below it
	mtime    time.Time
}

// fsMountPoints holds SetMountPoints' sets; a side table keeps the change
// out of the FS struct (see the package's pending diff in the report).
var fsMountPoints sync.Map // *FS -> *mountPoints

// SetMountPoints declares the paths (absolute, in the mount's view) that
// other filesystems are mounted on; call it before Serve. Paths outside the
// view or equal to its root are rejected.
func (f *FS) SetMountPoints(paths []string) error {
	mp := &mountPoints{children: map[string][]string{}, mtime: time.Now()}
	for _, p := range paths {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return fmt.Errorf("pffs: mount point %q: want an absolute, clean path below /", p)
		}
		for rel := p[1:]; rel != ""; {
			dir, name := path.Split(rel)
			dir = strings.TrimSuffix(dir, "/")
			if !contains(mp.children[dir], name) {
				mp.children[dir] = append(mp.children[dir], name)
			}
			rel = dir
		}
	}
	for _, names := range mp.children {
		sort.Strings(names)
	}
	fsMountPoints.Store(f, mp)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *FS) mountPoints() *mountPoints {
	v, ok := fsMountPoints.Load(f)
	if !ok {
		return nil
	}
	return v.(*mountPoints)
}

// isMountPoint reports whether rel is a mount point or an ancestor of one.
func (f *FS) isMountPoint(rel string) bool {
	mp := f.mountPoints()
	if mp == nil || rel == "" {
		return false
	}
	dir, name := path.Split(rel)
	return contains(mp.children[strings.TrimSuffix(dir, "/")], name)
}

// virtualChildren are the mount-point names directly below rel.
func (f *FS) virtualChildren(rel string) []string {
	mp := f.mountPoints()
	if mp == nil {
		return nil
	}
	return mp.children[rel]
}

// lookupMountPoint answers a lookup of rel when it is a mount point that the
// host directory lacks (hostErr != nil) or holds as something other than a
// directory; ok is false when the host entry is to be used.
func (f *FS) lookupMountPoint(ctx context.Context, parent *gofs.Inode, rel string, st *syscall.Stat_t, hostErr error, out *fuse.EntryOut) (*gofs.Inode, bool) {
	if !f.isMountPoint(rel) {
		return nil, false
	}
	if hostErr == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return nil, false
	}
	ch := parent.GetChild(path.Base(rel))
	if ch == nil || ch.StableAttr().Ino != virtualIno(rel) {
		n := &mountPointNode{fsys: f, rel: rel}
		ch = parent.NewInode(ctx, n, gofs.StableAttr{Mode: fuse.S_IFDIR, Ino: virtualIno(rel)})
	}
	f.virtualAttr(&out.Attr, rel)
	setTimeouts(out, true)
	return ch, true
}

// addVirtual adds the mount points below rel that list lacks to a listing.
func (f *FS) addVirtual(rel string, list []fuse.DirEntry) []fuse.DirEntry {
	for _, name := range f.virtualChildren(rel) {
		found := false
		for _, e := range list {
			if e.Name == name {
				found = true
				break
			}
		}
		if !found {
			list = append(list, fuse.DirEntry{Name: name, Mode: fuse.S_IFDIR, Ino: virtualIno(path.Join(rel, name))})
		}
	}
	return list
}

// virtualIno is a virtual directory's inode number: high bit set, so it
// does not meet a host inode number in practice.
func virtualIno(rel string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return h.Sum64() | 1<<63
}

func (f *FS) virtualAttr(out *fuse.Attr, rel string) {
	mp := f.mountPoints()
	out.Mode = fuse.S_IFDIR | 0o755
	out.Nlink = 2
	out.Ino = virtualIno(rel)
	out.Uid, out.Gid = f.cfg.UID, f.cfg.GID
	out.Blksize = 4096
	if mp != nil {
		out.SetTimes(&mp.mtime, &mp.mtime, &mp.mtime)
	}
}

// mountPointNode is a virtual directory: it lists only the mount points
// below it and refuses changes (EROFS), so nothing reaches the host.
type mountPointNode struct {
	gofs.Inode
	fsys *FS
	rel  string
}

var (
	_ gofs.NodeLookuper  = (*mountPointNode)(nil)
	_ gofs.NodeReaddirer = (*mountPointNode)(nil)
	_ gofs.NodeGetattrer = (*mountPointNode)(nil)
	_ gofs.NodeSetattrer = (*mountPointNode)(nil)
	_ gofs.NodeMkdirer   = (*mountPointNode)(nil)
	_ gofs.NodeCreater   = (*mountPointNode)(nil)
	_ gofs.NodeMknoder   = (*mountPointNode)(nil)
	_ gofs.NodeSymlinker = (*mountPointNode)(nil)
	_ gofs.NodeLinker    = (*mountPointNode)(nil)
	_ gofs.NodeUnlinker  = (*mountPointNode)(nil)
	_ gofs.NodeRmdirer   = (*mountPointNode)(nil)
	_ gofs.NodeRenamer   = (*mountPointNode)(nil)
	_ gofs.NodeStatfser  = (*mountPointNode)(nil)
)

func (n *mountPointNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch, ok := n.fsys.lookupMountPoint(ctx, &n.Inode, path.Join(n.rel, name), nil, syscall.ENOENT, out)
	if !ok {
		return nil, syscall.ENOENT
	}
	return ch, 0
}

func (n *mountPointNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return gofs.NewListDirStream(n.fsys.addVirtual(n.rel, nil)), 0
}

func (n *mountPointNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.virtualAttr(&out.Attr, n.rel)
	out.SetTimeout(cacheTime)
	return 0
}

func (n *mountPointNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (n *mountPointNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.fsys.cfg.HostDir, &st); err != nil {
		return gofs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

func (n *mountPointNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (n *mountPointNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (n *mountPointNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (n *mountPointNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (n *mountPointNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (n *mountPointNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (n *mountPointNode) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (n *mountPointNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
