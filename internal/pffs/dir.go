package pffs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/pf"
)

// dirNode is a directory of the mount; names are not encrypted (as in
// Gramine), so it maps one to one onto a host directory.
type dirNode struct {
	gofs.Inode
	fsys *FS
}

var (
	_ gofs.NodeLookuper  = (*dirNode)(nil)
	_ gofs.NodeReaddirer = (*dirNode)(nil)
	_ gofs.NodeMkdirer   = (*dirNode)(nil)
	_ gofs.NodeRmdirer   = (*dirNode)(nil)
	_ gofs.NodeCreater   = (*dirNode)(nil)
	_ gofs.NodeUnlinker  = (*dirNode)(nil)
	_ gofs.NodeRenamer   = (*dirNode)(nil)
	_ gofs.NodeGetattrer = (*dirNode)(nil)
	_ gofs.NodeSetattrer = (*dirNode)(nil)
	_ gofs.NodeStatfser  = (*dirNode)(nil)
	_ gofs.NodeLinker    = (*dirNode)(nil)
	_ gofs.NodeSymlinker = (*dirNode)(nil)
	_ gofs.NodeMknoder   = (*dirNode)(nil)
	_ gofs.NodeFsyncer   = (*dirNode)(nil)
)

// Fsync of a directory syncs the host directory, making creates, renames
// and deletes in it durable (what an application asks for when it fsyncs
// the directory after an atomic replace).
func (d *dirNode) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	dir, err := os.Open(d.fsys.hostPath(d.rel()))
	if err != nil {
		return gofs.ToErrno(err)
	}
	defer dir.Close()
	return gofs.ToErrno(dir.Sync())
}

func (d *dirNode) rel() string { return d.Path(nil) }

func (d *dirNode) child(name string) string { return path.Join(d.rel(), name) }

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if hiddenName(name) {
		return nil, syscall.ENOENT
	}
	rel := d.child(name)
	st, err := lstat(d.fsys.hostPath(rel))
	if ch, ok := d.fsys.lookupMountPoint(ctx, &d.Inode, rel, st, err, out); ok {
		return ch, 0 // a mount point the host directory lacks (mountpoints.go)
	}
	if err != nil {
		return nil, gofs.ToErrno(err)
	}
	return d.nodeFor(ctx, rel, st, out)
}

// nodeFor makes (or finds) the node of the host entry rel and fills out.
func (d *dirNode) nodeFor(ctx context.Context, rel string, st *syscall.Stat_t, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		ch := d.existing(path.Base(rel), st)
		if ch == nil {
			ch = d.NewInode(ctx, &dirNode{fsys: d.fsys}, d.fsys.stable(fuse.S_IFDIR, st.Ino))
		}
		d.fsys.fillAttr(&out.Attr, st, st.Size)
		setTimeouts(out, true)
		return ch, 0
	case syscall.S_IFREG:
		ch := d.existing(path.Base(rel), st)
		if ch == nil {
			ch = d.NewInode(ctx, &fileNode{fsys: d.fsys}, d.fsys.stable(fuse.S_IFREG, st.Ino))
		}
		fn, ok := ch.Operations().(*fileNode)
		if !ok {
			return nil, syscall.EIO
		}
		size, err := fn.plainSize(rel, st)
		if errors.Is(err, errKeyNotSet) {
			// No node: with writeback caching the kernel never takes a
			// new size from the server, so a node made now would keep
			// size 0 after the key is set.
			return nil, d.fsys.errno("lookup", rel, err)
		}
		if err != nil {
			// A damaged file is still found (so it can be deleted or
			// replaced), but stat and open report the failure: its
			// attributes are not cached.
			size = 0
		}
		d.fsys.fillAttr(&out.Attr, st, size)
		setTimeouts(out, err == nil)
		return ch, 0
	}
	// Host symlinks, devices, sockets: not part of an encrypted mount.
	d.fsys.log.Debug("pffs: ignoring host entry that is not a file or directory", "host", d.fsys.hostPath(rel))
	return nil, syscall.ENOENT
}

// existing returns the node already known under name if it is still the
// same host file (same inode number and type), else nil.
func (d *dirNode) existing(name string, st *syscall.Stat_t) *gofs.Inode {
	ch := d.GetChild(name)
	if ch == nil {
		return nil
	}
	sa := ch.StableAttr()
	if sa.Ino != st.Ino || sa.Mode != st.Mode&syscall.S_IFMT {
		return nil
	}
	return ch
}

func (d *dirNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := os.ReadDir(d.fsys.hostPath(d.rel()))
	if err != nil {
		return nil, gofs.ToErrno(err)
	}
	list := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		t := e.Type()
		if hiddenName(e.Name()) || (t != 0 && t != fs.ModeDir) {
			continue
		}
		mode := uint32(fuse.S_IFREG)
		if t == fs.ModeDir {
			mode = fuse.S_IFDIR
		}
		var ino uint64
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				ino = st.Ino
			}
		}
		list = append(list, fuse.DirEntry{Name: e.Name(), Mode: mode, Ino: ino})
	}
	list = d.fsys.addVirtual(d.rel(), list)
	return gofs.NewListDirStream(list), 0
}

func (d *dirNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	st, err := lstat(d.fsys.hostPath(d.rel()))
	if err != nil {
		return gofs.ToErrno(err)
	}
	d.fsys.fillAttr(&out.Attr, st, st.Size)
	out.SetTimeout(cacheTime)
	return 0
}

func (d *dirNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := d.fsys.setMeta(d.fsys.hostPath(d.rel()), in); errno != 0 {
		return errno
	}
	return d.Getattr(ctx, f, out)
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.fsys.cfg.HostDir, &st); err != nil {
		return gofs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if hiddenName(name) {
		return nil, syscall.EPERM
	}
	rel := d.child(name)
	host := d.fsys.hostPath(rel)
	if err := syscall.Mkdir(host, mode&0o7777); err != nil {
		return nil, gofs.ToErrno(err)
	}
	_ = syscall.Chmod(host, mode&0o7777) // undo nacre's own umask
	st, err := lstat(host)
	if err != nil {
		return nil, gofs.ToErrno(err)
	}
	return d.nodeFor(ctx, rel, st, out)
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if hiddenName(name) {
		return syscall.ENOENT
	}
	host := d.fsys.hostPath(d.child(name))
	err := syscall.Rmdir(host)
	if errors.Is(err, syscall.ENOTEMPTY) && removeLeftovers(host) {
		err = syscall.Rmdir(host)
	}
	return gofs.ToErrno(err)
}

// removeLeftovers deletes journals and half-created files (left by a crash)
// from a directory the application sees as empty, and reports whether it
// removed anything.
func removeLeftovers(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !hiddenName(e.Name()) || e.IsDir() {
			return false
		}
	}
	for _, e := range ents {
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	return len(ents) > 0
}

// Create makes a new protected file. It is written under a hidden
// temporary name and renamed into place once its first node 0 is on disk,
// so a crash never leaves an empty (unopenable) file under the real name.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if hiddenName(name) {
		return nil, nil, 0, syscall.ENOENT // as Gramine does for journal names
	}
	fsys := d.fsys
	rel := d.child(name)
	key, err := fsys.key(rel)
	if err != nil {
		return nil, nil, 0, fsys.errno("create", rel, err)
	}
	final := fsys.hostPath(rel)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(final), tmpPrefix+hex.EncodeToString(rnd[:]))
	hf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, os.FileMode(mode&0o777))
	if err != nil {
		return nil, nil, 0, fsys.errno("create", rel, err)
	}
	fail := func(err error) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
		_ = hf.Close()
		_ = os.Remove(tmp)
		return nil, nil, 0, fsys.errno("create", rel, err)
	}
	// The kernel applied the application's umask already; nacre's own must
	// not apply again. Set-id bits make no sense here.
	if err := hf.Chmod(os.FileMode(mode & 0o777)); err != nil {
		return fail(err)
	}
	hb, err := newHostBacking(hf)
	if err != nil {
		return fail(err)
	}
	jr := &journal{path: final + pf.RecoverySuffix}
	p, err := pf.Create(hb, fsys.boundPath(rel), key, fsys.pfOptions(jr, false))
	if err != nil {
		return fail(err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE); err != nil {
		_ = p.Close()
		return fail(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(hf.Fd()), &st); err != nil {
		_ = p.Close()
		_ = os.Remove(final)
		return fail(err)
	}
	fsys.forgetFailure(rel)
	fn := &fileNode{fsys: fsys}
	ch := d.NewInode(ctx, fn, fsys.stable(fuse.S_IFREG, st.Ino))
	if got, ok := ch.Operations().(*fileNode); ok {
		fn = got
	}
	fn.install(p, hb, hf, jr)
	fsys.fillAttr(&out.Attr, &st, 0)
	setTimeouts(out, true)
	return ch, &handle{n: fn}, fuse.FOPEN_KEEP_CACHE, 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if hiddenName(name) {
		return syscall.ENOENT
	}
	rel := d.child(name)
	host := d.fsys.hostPath(rel)
	if err := syscall.Unlink(host); err != nil {
		return gofs.ToErrno(err)
	}
	if fn, ok := childFile(&d.Inode, name); !ok || !fn.unlinked() {
		_ = os.Remove(host + pf.RecoverySuffix) // a stale journal left by a crash
	}
	d.fsys.forgetFailure(rel)
	return 0
}

func childFile(dir *gofs.Inode, name string) (*fileNode, bool) {
	ch := dir.GetChild(name)
	if ch == nil {
		return nil, false
	}
	fn, ok := ch.Operations().(*fileNode)
	return fn, ok
}

// Rename of a file rebinds it to its new path (pf.File.Rename, flushed and
// journaled) before the host rename, and back if the host rename fails.
// Renaming a directory would change the bound path of every file below it,
// so it is refused with EXDEV (mv then copies) unless the directory holds
// no files.
func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE would need two rebinds at once
	}
	if hiddenName(name) || hiddenName(newName) {
		return syscall.ENOENT
	}
	np, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	fsys := d.fsys
	oldRel, newRel := d.child(name), np.child(newName)
	oldHost, newHost := fsys.hostPath(oldRel), fsys.hostPath(newRel)
	hostRename := func() error {
		return unix.Renameat2(unix.AT_FDCWD, oldHost, unix.AT_FDCWD, newHost, uint(flags))
	}
	st, err := lstat(oldHost)
	if err != nil {
		return gofs.ToErrno(err)
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if holdsFiles(oldHost) {
			return syscall.EXDEV
		}
		return gofs.ToErrno(hostRename())
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return syscall.ENOENT
	}
	fn, ok := childFile(&d.Inode, name)
	if !ok {
		fn = &fileNode{fsys: fsys} // not looked up: a node just for the rename
	}
	dst, dstOK := childFile(&np.Inode, newName)
	if err := fn.rename(oldRel, newRel, hostRename); err != nil {
		return fsys.errno("rename", oldRel, err)
	}
	if dstOK && dst != fn {
		dst.unlinked()
	}
	fsys.forgetFailure(newRel)
	return 0
}

// holdsFiles reports whether the host directory has a regular file anywhere
// below it (or cannot be walked).
func holdsFiles(dir string) bool {
	found := false
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && !hiddenName(e.Name()) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found || err != nil
}

func (d *dirNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM // a protected file is bound to one path
}

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// setMeta applies mode, owner and time changes of in to the host path.
func (f *FS) setMeta(host string, in *fuse.SetAttrIn) syscall.Errno {
	if uid, ok := in.GetUID(); ok && uid != f.cfg.UID {
		return syscall.EPERM
	}
	if gid, ok := in.GetGID(); ok && gid != f.cfg.GID {
		return syscall.EPERM
	}
	if mode, ok := in.GetMode(); ok {
		if err := syscall.Chmod(host, mode&0o7777); err != nil {
			return gofs.ToErrno(err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if aok {
			ts[0] = unix.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = unix.NsecToTimespec(mtime.UnixNano())
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return gofs.ToErrno(err)
		}
	}
	return 0
}
