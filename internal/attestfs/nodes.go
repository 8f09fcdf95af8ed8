package attestfs

import (
	"context"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Permission bits, as Gramine's pseudo-files: PSEUDO_PERM_DIR,
// PSEUDO_PERM_FILE_R and PSEUDO_PERM_FILE_RW.
const (
	permDir    = 0o555
	permFileR  = 0o444
	permFileRW = 0o666
)

type fileKind int

const (
	kindType fileKind = iota
	kindUserReportData
	kindQuote
	kindKey
)

func (k fileKind) writable() bool { return k == kindUserReportData || k == kindKey }

func (a *FS) fillAttr(out *fuse.Attr, ino uint64, mode uint32, size uint64) {
	out.Ino = ino
	out.Mode = mode
	out.Size = size
	out.Nlink = 1
	if mode&syscall.S_IFDIR != 0 {
		out.Nlink = 2
	}
	out.Owner = fuse.Owner{Uid: a.cfg.UID, Gid: a.cfg.GID}
}

// rootNode is /dev/attestation.
type rootNode struct {
	fs.Inode
	a *FS
}

var (
	_ fs.NodeOnAdder   = (*rootNode)(nil)
	_ fs.NodeGetattrer = (*rootNode)(nil)
	_ fs.NodeCreater   = (*rootNode)(nil)
	_ fs.NodeMknoder   = (*rootNode)(nil)
	_ fs.NodeStatfser  = (*rootNode)(nil)
	_ fs.NodeGetattrer = (*keysNode)(nil)
	_ fs.NodeLookuper  = (*keysNode)(nil)
	_ fs.NodeReaddirer = (*keysNode)(nil)
	_ fs.NodeCreater   = (*keysNode)(nil)
	_ fs.NodeMknoder   = (*keysNode)(nil)
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeAccesser  = (*fileNode)(nil)
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
)

func (r *rootNode) OnAdd(ctx context.Context) {
	add := func(name string, node fs.InodeEmbedder, mode uint32, ino uint64) {
		r.AddChild(name, r.NewPersistentInode(ctx, node, fs.StableAttr{Mode: mode, Ino: ino}), false)
	}
	a := r.a
	add("attestation_type", &fileNode{a: a, kind: kindType}, syscall.S_IFREG, inoType)
	add("user_report_data", &fileNode{a: a, kind: kindUserReportData}, syscall.S_IFREG, inoUserReportData)
	if a.hasQuote() {
		add("quote", &fileNode{a: a, kind: kindQuote}, syscall.S_IFREG, inoQuote)
	}
	add("keys", &keysNode{a: a}, syscall.S_IFDIR, inoKeys)
}

func (r *rootNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.a.fillAttr(&out.Attr, 1, syscall.S_IFDIR|permDir, 0)
	return 0
}

// Create and Mknod: the set of files is fixed.
func (r *rootNode) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EACCES
}

func (r *rootNode) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EACCES
}

func (r *rootNode) Statfs(_ context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.NameLen = 255
	out.Bsize = 4096
	return 0
}

// keysNode is /dev/attestation/keys: one file per name in the KeyStore.
type keysNode struct {
	fs.Inode
	a *FS
}

func (k *keysNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	k.a.fillAttr(&out.Attr, inoKeys, syscall.S_IFDIR|permDir, 0)
	return 0
}

func (k *keysNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !k.a.keyExists(name) {
		return nil, syscall.ENOENT
	}
	n := &fileNode{a: k.a, kind: kindKey, name: name}
	ino := k.a.keyIno(name)
	ch := k.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG, Ino: ino})
	k.a.fillAttr(&out.Attr, ino, syscall.S_IFREG|n.perm(), n.size())
	return ch, 0
}

func (k *keysNode) Readdir(context.Context) (fs.DirStream, syscall.Errno) {
	var names []string
	if k.a.cfg.Keys != nil {
		names = k.a.cfg.Keys.Names()
	}
	ents := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
			continue // not representable as a file name
		}
		ents = append(ents, fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: k.a.keyIno(n)})
	}
	return fs.NewListDirStream(ents), 0
}

// Create and Mknod: Gramine only lets existing key names be written (names
// come from the manifest's encrypted mounts and fs.insecure__keys).
func (k *keysNode) Create(_ context.Context, name string, _, _ uint32, _ *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	k.a.cfg.Log.Debug("/dev/attestation/keys: refusing to create an unknown key name; only keys named by an encrypted mount or fs.insecure__keys exist", "name", name)
	return nil, nil, 0, syscall.EACCES
}

func (k *keysNode) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EACCES
}

// fileNode is one pseudo-file.
type fileNode struct {
	fs.Inode
	a    *FS
	kind fileKind
	name string // key name (kindKey)
}

func (n *fileNode) perm() uint32 {
	if n.kind.writable() && !(n.kind == kindKey && reservedKey(n.name)) {
		return permFileRW
	}
	return permFileR
}

// reservedKey names keys the platform derives (Gramine: _sgx_mrenclave,
// _sgx_mrsigner); the app may read but not replace them.
func reservedKey(name string) bool { return strings.HasPrefix(name, "_") }

// size is what stat reports. The quote's size is unknown until it is
// generated at open; reads are direct I/O, so the size does not limit them.
func (n *fileNode) size() uint64 {
	switch n.kind {
	case kindType:
		return uint64(len(n.a.cfg.Platform.Name()))
	case kindUserReportData:
		return 64
	case kindKey:
		if n.a.cfg.Keys != nil {
			if _, ok := n.a.cfg.Keys.Get(n.name); ok {
				return KeySize
			}
		}
	}
	return 0
}

func (n *fileNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.kind == kindKey && !n.a.keyExists(n.name) {
		return syscall.ENOENT
	}
	n.a.fillAttr(&out.Attr, n.StableAttr().Ino, syscall.S_IFREG|n.perm(), n.size())
	return 0
}

// Setattr accepts truncation of writable files (open with O_TRUNC, as
// Python's open(..., "wb") does) and changes nothing: the next write
// replaces the value anyway.
func (n *fileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if in.Valid&^(fuse.FATTR_SIZE|fuse.FATTR_FH|fuse.FATTR_LOCKOWNER|fuse.FATTR_ATIME|fuse.FATTR_MTIME|fuse.FATTR_ATIME_NOW|fuse.FATTR_MTIME_NOW|fuse.FATTR_CTIME) != 0 {
		return syscall.EPERM
	}
	if in.Valid&fuse.FATTR_SIZE != 0 && n.perm() != permFileRW {
		return syscall.EACCES
	}
	return n.Getattr(ctx, f, out)
}

func (n *fileNode) Access(_ context.Context, mask uint32) syscall.Errno {
	if mask&2 != 0 && n.perm() != permFileRW { // W_OK
		return syscall.EACCES
	}
	return 0
}

// Open produces the content, as Gramine's pseudo-files do at open(2): the
// quote is generated here, over the caller's user_report_data at this
// moment, so that reads of one open file are consistent.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	writing := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writing && n.perm() != permFileRW {
		return nil, 0, syscall.EACCES
	}
	pid := callerPid(ctx)
	h := &handle{n: n, pid: pid}
	switch n.kind {
	case kindType:
		h.content = []byte(n.a.cfg.Platform.Name())
	case kindUserReportData:
		v := n.a.reports.get(pid)
		h.content = v[:]
	case kindQuote:
		q, errno := n.a.quote(ctx, pid)
		if errno != 0 {
			return nil, 0, errno
		}
		h.content = q
	case kindKey:
		if !n.a.keyExists(n.name) {
			return nil, 0, syscall.ENOENT
		}
		if k, ok := n.a.cfg.Keys.Get(n.name); ok {
			h.content = k[:]
		}
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// handle is one open file description: the content produced at open (or
// by the last write through it).
type handle struct {
	n   *fileNode
	pid uint32

	mu      sync.Mutex
	content []byte
}

func (h *handle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off < 0 {
		return nil, syscall.EINVAL
	}
	if off >= int64(len(h.content)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(int64(len(h.content)), off+int64(len(dest)))
	// A vector reply: ReadResultData makes go-fuse try a splice first.
	return fuse.ReadResultVector([][]byte{append([]byte(nil), h.content[off:end]...)}), 0
}

// Write hands exactly this write(2)'s bytes to the file's setter, whatever
// the offset: Gramine's rule that a value is written in one call.
func (h *handle) Write(ctx context.Context, data []byte, _ int64) (uint32, syscall.Errno) {
	a := h.n.a
	pid := callerPid(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.n.kind {
	case kindUserReportData:
		// Shorter writes are zero-padded, longer ones truncated (Gramine's
		// update_buffer).
		var v [64]byte
		copy(v[:], data)
		a.reports.set(pid, v)
		h.content = v[:]
	case kindKey:
		name := h.n.name
		if reservedKey(name) {
			return 0, syscall.EACCES
		}
		if !a.keyExists(name) {
			return 0, syscall.ENOENT
		}
		k, err := a.cfg.ParseKey(name, data)
		if err != nil {
			a.cfg.Log.Warn("/dev/attestation/keys: write refused", "key", name, "err", err)
			return 0, syscall.EACCES
		}
		a.cfg.Keys.Set(name, k)
		a.cfg.Log.Info("/dev/attestation/keys: key set by the app", "key", name, "pid", pid)
		h.content = k[:]
	default:
		return 0, syscall.EACCES
	}
	return uint32(len(data)), 0
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.n.Getattr(ctx, h, out)
}

func (h *handle) Release(context.Context) syscall.Errno { return 0 }
