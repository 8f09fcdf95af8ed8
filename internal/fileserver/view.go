package fileserver

import (
	"context"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// dirNode is a directory of the view: backed by the mount that owns its path,
// or synthetic (an ancestor of a mount, alias or mount point with no host
// directory behind it).
type dirNode struct {
	fs.Inode
	noXattr
	s         *Server
	synthetic bool
	hostDir   dirFd   // host directory, for lookups of children (dirfd.go)
	host      hostObj // the host directory it was looked up as (sameObject)
}

var (
	_ fs.NodeLookuper       = (*dirNode)(nil)
	_ fs.NodeGetattrer      = (*dirNode)(nil)
	_ fs.NodeSetattrer      = (*dirNode)(nil)
	_ fs.NodeOpendirHandler = (*dirNode)(nil)
	_ fs.NodeMkdirer        = (*dirNode)(nil)
	_ fs.NodeCreater        = (*dirNode)(nil)
	_ fs.NodeSymlinker      = (*dirNode)(nil)
	_ fs.NodeUnlinker       = (*dirNode)(nil)
	_ fs.NodeRmdirer        = (*dirNode)(nil)
	_ fs.NodeRenamer        = (*dirNode)(nil)
	_ fs.NodeStatfser       = (*dirNode)(nil)
)

// viewPath is the node's path in the view; it follows renames because it is
// read from the inode tree.
func viewPath(n *fs.Inode) string { return "/" + n.Path(nil) }

func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// backing returns the mount and mount-relative path of view path p, or nil
// for a synthetic directory.
func (d *dirNode) backing(p string) (*mountEntry, string) {
	if d.synthetic && d.s.mountAt[p] == nil {
		return nil, ""
	}
	return d.s.mountFor(p)
}

// isExtra reports whether the view itself put name into this directory
// (mount, alias or synthetic directory): such names cannot be changed.
func (d *dirNode) isExtra(p string) bool {
	_, m := d.s.mountAt[p]
	_, a := d.s.aliases[p]
	return m || a || d.s.synth[p]
}

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/")
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !validName(name) {
		return nil, syscall.ENOENT
	}
	s := d.s
	dv := viewPath(&d.Inode)
	cp := childPath(dv, name)
	if host, ok := s.aliases[cp]; ok {
		return s.lookupAlias(ctx, &d.Inode, cp, host, out)
	}
	if m, ok := s.mountAt[cp]; ok {
		e, errno := m.be.lookup("")
		if errno != 0 {
			s.log.Debug("fileserver: mount root missing on the host", "path", cp, "host", m.be.hostPath(""), "errno", errno)
			return nil, errno
		}
		return s.newChild(ctx, &d.Inode, cp, m.be, "", e, out), 0
	}
	if m, rel := d.backing(cp); m != nil {
		e, errno := d.lookupChild(m, dv, rel, name)
		switch {
		case errno == 0 && (e.isDir() || !s.synth[cp]):
			return s.newChild(ctx, &d.Inode, cp, m.be, rel, e, out), 0
		case errno != 0 && (errno != syscall.ENOENT || !s.synth[cp]):
			return nil, errno
		}
	}
	if s.synth[cp] {
		s.syntheticAttr(&out.Attr)
		return d.NewInode(ctx, &dirNode{s: s, synthetic: true}, fs.StableAttr{Mode: modeDir, Ino: s.dirIno.get(cp)}), 0
	}
	return nil, syscall.ENOENT
}

// newChild makes the node of a looked-up host entry and fills its attributes.
// A name the kernel looks up again while it still holds a node for it (its
// dentry expired, or was revalidated for mkdir, O_EXCL or a rename target)
// keeps that node when the host object is the same: with a new node id the
// kernel would drop the dentry, detach what is mounted below it, and leave
// files that are open under the old node beside a second inode of the same
// host file, each with its own size and page cache (an O_APPEND write
// through the old one then overwrote what the new one had appended).
func (s *Server) newChild(ctx context.Context, parent *fs.Inode, view string, be backend, rel string, e hostEntry, out *fuse.EntryOut) *fs.Inode {
	old := parent.GetChild(path.Base(view))
	if old != nil && !sameObject(old, e) {
		old = nil
	}
	if e.isDir() {
		s.fillAttr(&out.Attr, &e.st, e.class, s.dirWritable(e.host))
		if old != nil {
			return old
		}
		return parent.NewInode(ctx, &dirNode{s: s, host: hostObjOf(&e.st)}, fs.StableAttr{Mode: modeDir, Ino: s.dirIno.get(view)})
	}
	s.fillAttr(&out.Attr, &e.st, e.class, false)
	s.logDecision(view, e)
	if old != nil {
		return old
	}
	return parent.NewInode(ctx, be.newNode(rel, e), fs.StableAttr{Mode: e.st.Mode & unix.S_IFMT})
}

// hostObj identifies a host file or directory: device, inode and type.
type hostObj struct {
	dev, ino uint64
	typ      uint32
}

func hostObjOf(st *unix.Stat_t) hostObj {
	return hostObj{dev: uint64(st.Dev), ino: st.Ino, typ: st.Mode & unix.S_IFMT}
}

// sameObject reports whether node n was made for the host object of e.
// A file node also keeps the class and host path it was looked up with,
// even after the app moved it (a rename of an allowed directory moves its
// children): it may answer only for a path the manifest treats the same
// way, so a node of an allowed file never stands for a trusted path, and
// a trusted node only for its own manifest entry.
func sameObject(n *fs.Inode, e hostEntry) bool {
	var h hostObj
	switch o := n.Operations().(type) {
	case *dirNode:
		if o.synthetic {
			return false
		}
		h = o.host
	case *fileNode:
		if o.class != e.class && !(o.class.writable() && e.class.writable()) {
			return false
		}
		if (o.class == classTrusted || o.be == nil) && o.host != e.host {
			return false // verified against, or opened by, another host path
		}
		h = hostObjOf(&o.st)
	case *linkNode:
		// Never: the kernel caches a symlink's target (EnableSymlinkCaching)
		// and nothing is open or mounted on one. A link the host replaced
		// may get the same inode number, and kept its old target.
		return false
	default:
		return false
	}
	return h != hostObj{} && h == hostObjOf(&e.st)
}

func (s *Server) logDecision(view string, e hostEntry) {
	if e.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		s.log.Debug("fileserver: symlink", "path", view, "host", e.host)
		return
	}
	s.log.Debug("fileserver: file", "path", view, "host", e.host, "class", e.class.String())
	if e.class == classLogged {
		s.warnOnce(view, e.host)
	}
}

// lookupAlias presents the host file of an alias.
func (s *Server) lookupAlias(ctx context.Context, parent *fs.Inode, view, host string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	e := hostEntry{host: host, class: s.classify(host)}
	if err := unix.Stat(host, &e.st); err != nil {
		s.log.Debug("fileserver: alias target missing", "path", view, "host", host, "err", err)
		return nil, fs.ToErrno(err)
	}
	if e.st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, syscall.EACCES
	}
	if size, ok := s.trusted.Size(host); ok && e.class == classTrusted {
		e.st.Size = size
	}
	s.fillAttr(&out.Attr, &e.st, e.class, false)
	s.logDecision(view, e)
	return parent.NewInode(ctx, newFileNode(s, nil, e), fs.StableAttr{Mode: modeReg}), 0
}

var startTime = time.Now()

func (s *Server) syntheticAttr(out *fuse.Attr) {
	out.Mode = modeDir | 0o555
	out.Nlink = 2
	out.Uid, out.Gid = noOwner, noOwner
	t := uint64(startTime.Unix())
	out.Atime, out.Mtime, out.Ctime = t, t, t
}

func (d *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p := viewPath(&d.Inode)
	m, rel := d.backing(p)
	if m == nil {
		d.s.syntheticAttr(&out.Attr)
		return 0
	}
	e, errno := m.be.lookup(rel)
	if errno != 0 {
		return errno
	}
	d.s.fillAttr(&out.Attr, &e.st, e.class, d.s.dirWritable(e.host))
	return 0
}

func (d *dirNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p := viewPath(&d.Inode)
	m, rel := d.backing(p)
	if m == nil || !d.s.dirWritable(m.be.hostPath(rel)) {
		return syscall.EACCES
	}
	if errno := m.be.setattrDir(rel, in); errno != 0 {
		return errno
	}
	return d.Getattr(ctx, f, out)
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	if m, _ := d.backing(viewPath(&d.Inode)); m != nil {
		return m.be.statfs(out)
	}
	return 0
}

// OpendirHandle lets the kernel cache the listing (FOPEN_CACHE_DIR and
// FOPEN_KEEP_CACHE). The host directory is read only when the kernel asks
// for entries, which it does not while its cache is valid.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{list: d.list}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// list returns the entries of the directory: the backend's, with the names
// the view adds.
func (d *dirNode) list() ([]fuse.DirEntry, syscall.Errno) {
	p := viewPath(&d.Inode)
	var ents []fuse.DirEntry
	if m, rel := d.backing(p); m != nil {
		var errno syscall.Errno
		if ents, errno = m.be.readdir(rel); errno != 0 {
			return nil, errno
		}
	}
	if extra := d.s.extra[p]; len(extra) > 0 {
		idx := make(map[string]int, len(ents))
		for i, e := range ents {
			idx[e.Name] = i
		}
		for _, x := range extra {
			if i, ok := idx[x.name]; ok {
				ents[i].Mode = x.mode
			} else {
				ents = append(ents, fuse.DirEntry{Name: x.name, Mode: x.mode})
			}
		}
	}
	return ents, 0
}

// dirHandle is an open directory whose entries are listed on first use.
type dirHandle struct {
	list    func() ([]fuse.DirEntry, syscall.Errno)
	loaded  bool
	entries []fuse.DirEntry
	idx     int
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
)

func (h *dirHandle) load() syscall.Errno {
	if h.loaded {
		return 0
	}
	ents, errno := h.list()
	if errno != 0 {
		return errno
	}
	h.entries, h.loaded = ents, true
	return 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := h.load(); errno != 0 {
		return nil, errno
	}
	if h.idx >= len(h.entries) {
		return nil, 0
	}
	e := h.entries[h.idx]
	h.idx++
	e.Off = uint64(h.idx)
	return &e, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := h.load(); errno != 0 {
		return errno
	}
	if off > uint64(len(h.entries)) {
		return syscall.EINVAL
	}
	h.idx = int(off)
	return 0
}

// target returns the backend and relative path of a new or existing child,
// refusing names the view owns and synthetic parents.
func (d *dirNode) target(name string) (*mountEntry, string, string, syscall.Errno) {
	if !validName(name) {
		return nil, "", "", syscall.EINVAL
	}
	cp := childPath(viewPath(&d.Inode), name)
	if d.isExtra(cp) {
		return nil, "", "", syscall.EBUSY
	}
	m, rel := d.backing(viewPath(&d.Inode))
	if m == nil || m.be.isFile() {
		return nil, "", "", syscall.EACCES
	}
	m, rel = d.s.mountFor(cp)
	return m, rel, cp, 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	m, rel, cp, errno := d.target(name)
	if errno != 0 {
		return nil, errno
	}
	if host := m.be.hostPath(rel); !d.s.dirWritable(host) || d.s.trusted.Contains(host) {
		d.s.log.Debug("fileserver: mkdir denied", "path", cp, "host", host)
		return nil, syscall.EACCES
	}
	e, errno := m.be.mkdir(rel, mode)
	if errno != 0 {
		return nil, errno
	}
	return d.s.newChild(ctx, &d.Inode, cp, m.be, rel, e, out), 0
}

// creatable checks that a new non-directory at rel may be made.
func (d *dirNode) creatable(m *mountEntry, rel, cp string) syscall.Errno {
	host := m.be.hostPath(rel)
	if c := d.s.classify(host); !c.writable() {
		d.s.log.Debug("fileserver: create denied", "path", cp, "host", host, "class", c.String())
		return syscall.EACCES
	}
	return 0
}

func (d *dirNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	m, rel, cp, errno := d.target(name)
	if errno == 0 {
		errno = d.creatable(m, rel, cp)
	}
	if errno != 0 {
		return nil, nil, 0, errno
	}
	e, fd, errno := m.be.create(rel, flags, mode)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	child := d.s.newChild(ctx, &d.Inode, cp, m.be, rel, e, out)
	// Keep the fd: the app may unlink the file before its first write
	// (temporary files, journals), and then it cannot be reopened by path.
	if n, ok := child.Operations().(*fileNode); ok {
		n.adoptFd(fd)
	} else {
		unix.Close(fd)
	}
	return child, nopHandle{}, fuse.FOPEN_KEEP_CACHE, 0
}

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	m, rel, cp, errno := d.target(name)
	if errno == 0 {
		errno = d.creatable(m, rel, cp)
	}
	if errno != 0 {
		return nil, errno
	}
	e, errno := m.be.symlink(target, rel)
	if errno != 0 {
		return nil, errno
	}
	return d.s.newChild(ctx, &d.Inode, cp, m.be, rel, e, out), 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	m, rel, cp, errno := d.target(name)
	if errno == 0 {
		errno = d.creatable(m, rel, cp)
	}
	if errno != 0 {
		return errno
	}
	// Open files stay usable after unlink: make sure the node holds its
	// host fd before the name goes away.
	if c := d.GetChild(name); c != nil {
		if n, ok := c.Operations().(*fileNode); ok && n.class.writable() {
			n.hostFd(fdTryWrite)
		}
	}
	return m.be.unlink(rel)
}

// trustedUnder reports whether a trusted file lies below host directory dir.
func (s *Server) trustedUnder(dir string) bool {
	return s.cfg.TrustedUnder != nil && s.cfg.TrustedUnder(dir)
}

// removableDir checks that directory rel may be removed or renamed: it must be
// allowed itself, not merely on the way to an allowed entry.
func (d *dirNode) removableDir(m *mountEntry, rel string) bool {
	host := m.be.hostPath(rel)
	return d.s.cfg.Policy == AllowAllButLog || d.s.isAllowed(host)
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	m, rel, cp, errno := d.target(name)
	if errno != 0 {
		return errno
	}
	if d.s.dirIno.isPinned(cp) {
		return syscall.EBUSY // carries a mount (dirino.go)
	}
	if !d.removableDir(m, rel) {
		return syscall.EACCES
	}
	return m.be.rmdir(rel)
}

func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	m1, rel1, cp1, errno := d.target(name)
	if errno != 0 {
		return errno
	}
	m2, rel2, cp2, errno := np.target(newName)
	if errno != 0 {
		return errno
	}
	if d.s.dirIno.isPinned(cp1) || d.s.dirIno.isPinned(cp2) {
		return syscall.EBUSY // carries a mount (dirino.go)
	}
	if m1 != m2 {
		return syscall.EXDEV
	}
	for _, rel := range []string{rel1, rel2} {
		e, errno := m1.be.lookup(rel)
		switch {
		case errno == syscall.ENOENT:
		case errno != 0:
			return errno
		case e.isDir():
			if !d.removableDir(m1, rel) {
				return syscall.EACCES
			}
			if d.s.trustedUnder(m1.be.hostPath(rel1)) || d.s.trustedUnder(m1.be.hostPath(rel2)) {
				return syscall.EXDEV // see Config.TrustedUnder
			}
		case !e.class.writable():
			return syscall.EACCES
		}
	}
	// The destination name must be writable even if nothing is there yet.
	if !d.s.classify(m1.be.hostPath(rel2)).writable() {
		return syscall.EACCES
	}
	return m1.be.rename(rel1, rel2, flags)
}

// nopHandle is the handle CREATE must return; reads and writes are served per
// inode, as in no_open mode.
type nopHandle struct{}

// linkNode is a host symlink, presented as a symlink.
type linkNode struct {
	fs.Inode
	noXattr
	s  *Server
	be backend
}

var (
	_ fs.NodeReadlinker = (*linkNode)(nil)
	_ fs.NodeGetattrer  = (*linkNode)(nil)
)

func (l *linkNode) rel() string {
	_, rel := l.s.mountFor(viewPath(&l.Inode))
	return rel
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return l.be.readlink(l.rel())
}

func (l *linkNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, errno := l.be.lookup(l.rel())
	if errno != 0 {
		return errno
	}
	l.s.fillAttr(&out.Attr, &e.st, e.class, false)
	return 0
}
