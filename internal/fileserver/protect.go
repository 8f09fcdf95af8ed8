package fileserver

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Protected directories: the store of verified copies.
//
// internal/verifiedcache keeps copies of trusted files in a directory that
// every nacre run of one uid shares, and serves them without hashing. The
// file server creates host files as nacre's uid, so an app that could
// create a file in that directory through the view (allowed_files covering
// /dev/shm, allow_all_but_log over a mount of it, ...) would plant a "copy"
// that passes every check of the store, and a later run would serve it as
// verified. So every server, whether its own run uses the store or not,
// keeps all of Config.Protected out of the app's reach:
//
//   - LOOKUP of a directory whose (device, inode) is that of a protected
//     directory, as it was at server start, fails with EACCES, whatever the
//     path (bind mounts and symlinks lead to the same inode). Without a
//     node the app can name nothing below it.
//   - A name that would be a protected path cannot be looked up, created
//     (mkdir, create, symlink, link, mknod), renamed to or from, or
//     removed, and nothing is created in a protected directory: the check compares the (device, inode) of the host directory
//     the operation runs in (the fd it runs on) with that of the protected
//     path's parent, taken at server start, and the name. This covers
//     protected directories that do not exist yet (nacre makes them later)
//     and cannot be fooled by symlinks, which the server never follows.
//   - Ancestors of protected paths cannot be renamed or removed, so that the
//     app cannot move the checked parent away and put a fresh one in its
//     place.
//   - A mount whose host root is a protected directory or lies inside one,
//     and an alias of a file inside one, are refused by New.
//
// The checks cost a map lookup per LOOKUP (and an fstat when the name is
// one of the few protected names).

// fileID is a host inode.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: st.Ino} }

// protection is the protected set, resolved at server start.
type protection struct {
	dirs     map[fileID]string            // existing protected directories
	names    map[string]map[fileID]string // name → parent directories → path
	prefixes []namePrefix                 // names given as "prefix*"
	anc      map[fileID]string            // existing protected dirs and their ancestors
	chain    map[string]map[fileID]string // every component name on the way, in its parent
	root     fileID                       // of "/", where the walk up stops

	warned sync.Map // path → struct{}: refusal logged
}

// namePrefix protects every name starting with prefix in the parents.
type namePrefix struct {
	prefix  string
	parents map[fileID]string
}

// newProtection resolves paths. A path may hold shell patterns (for root,
// which could write every user's store: /dev/shm/nacre-*): existing
// matches are protected like plain paths, and a last component of the form
// "prefix*" protects every name with that prefix, even one made later.
func newProtection(paths []string) *protection {
	p := &protection{dirs: map[fileID]string{}, names: map[string]map[fileID]string{}, anc: map[fileID]string{}, chain: map[string]map[fileID]string{}}
	var st unix.Stat_t
	if unix.Stat("/", &st) == nil {
		p.root = idOf(&st)
	}
	for _, pp := range paths {
		if !path.IsAbs(pp) || path.Clean(pp) == "/" {
			continue
		}
		pp = path.Clean(pp)
		dir, name := path.Split(pp)
		parents := []string{dir}
		if hasMeta(dir) {
			parents, _ = filepath.Glob(path.Clean(dir))
		}
		for _, parent := range parents {
			if unix.Stat(parent, &st) != nil {
				continue
			}
			id := idOf(&st)
			if prefix, ok := strings.CutSuffix(name, "*"); ok && !hasMeta(prefix) && prefix != "" {
				p.prefixes = append(p.prefixes, namePrefix{prefix: prefix, parents: map[fileID]string{id: pp}})
				continue
			}
			if p.names[name] == nil {
				p.names[name] = map[fileID]string{}
			}
			p.names[name][id] = pp
		}
		matches := []string{pp}
		if hasMeta(pp) {
			matches, _ = filepath.Glob(pp)
		}
		for _, m := range matches {
			if unix.Stat(m, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				p.dirs[idOf(&st)] = m
			}
			p.addChain(m)
			for a := m; a != "/"; a = path.Dir(a) {
				if unix.Stat(a, &st) == nil {
					p.anc[idOf(&st)] = a
				}
			}
		}
	}
	return p
}

// addChain records each component of pp in its (resolved) parent, up to
// the first missing one: none may be created, removed or replaced.
func (p *protection) addChain(pp string) {
	var st unix.Stat_t
	parent := "/"
	for _, c := range strings.Split(strings.TrimPrefix(pp, "/"), "/") {
		if unix.Stat(parent, &st) != nil {
			return
		}
		if p.chain[c] == nil {
			p.chain[c] = map[fileID]string{}
		}
		p.chain[c][idOf(&st)] = pp
		parent = path.Join(parent, c)
	}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// nameAt is the protected path that name in the directory st is, if any.
func (p *protection) nameAt(st *unix.Stat_t, name string) (string, bool) {
	if pp, ok := p.names[name][idOf(st)]; ok {
		return pp, true
	}
	for _, pf := range p.prefixes {
		if strings.HasPrefix(name, pf.prefix) {
			if pp, ok := pf.parents[idOf(st)]; ok {
				return pp, true
			}
		}
	}
	return "", false
}

// mayName reports whether name could be protected somewhere (no syscall).
func (p *protection) mayName(name string) bool {
	if _, ok := p.names[name]; ok {
		return true
	}
	for _, pf := range p.prefixes {
		if strings.HasPrefix(name, pf.prefix) {
			return true
		}
	}
	return false
}

// dir reports the protected directory st is, if any.
func (p *protection) dir(st *unix.Stat_t) (string, bool) {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", false
	}
	pp, ok := p.dirs[idOf(st)]
	return pp, ok
}

// named reports the protected path that name in the host directory dirFd
// is, if any.
func (p *protection) named(dirFd int, name string) (string, bool) {
	if !p.mayName(name) {
		return "", false
	}
	var st unix.Stat_t
	if err := unix.Fstat(dirFd, &st); err != nil {
		return "(unknown)", true // fail closed
	}
	return p.nameAt(&st, name)
}

// changeAt reports the protected path that creating, removing or renaming
// name in the host directory dirFd would touch: a protected name, or any
// entry of a protected directory (defence in depth: without a node of a
// protected directory the kernel sends no request for its entries).
func (p *protection) changeAt(dirFd int, name string) (string, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(dirFd, &st); err != nil {
		return "(unknown)", true // fail closed
	}
	if pp, ok := p.dirs[idOf(&st)]; ok {
		return pp, true
	}
	if pp, ok := p.chain[name][idOf(&st)]; ok {
		return pp, true
	}
	return p.nameAt(&st, name)
}

// ancestor reports whether name in dirFd is a protected directory or an
// ancestor of one (not to be renamed or removed).
func (p *protection) ancestor(dirFd int, name string) (string, bool) {
	if pp, ok := p.named(dirFd, name); ok {
		return pp, true
	}
	var st unix.Stat_t
	if unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", false
	}
	pp, ok := p.anc[idOf(&st)]
	return pp, ok
}

// inside reports the protected directory that the directory fd is or lies
// in, walking up with "..".
func (p *protection) inside(fd int) (string, bool) {
	var st unix.Stat_t
	cur := fd
	defer func() {
		if cur != fd {
			unix.Close(cur)
		}
	}()
	for i := 0; i < 4096; i++ {
		if err := unix.Fstat(cur, &st); err != nil {
			return "(unknown)", true
		}
		if pp, ok := p.dirs[idOf(&st)]; ok {
			return pp, true
		}
		if idOf(&st) == p.root {
			return "", false
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "(unknown)", true
		}
		var ust unix.Stat_t
		if unix.Fstat(up, &ust) == nil && idOf(&ust) == idOf(&st) { // a root
			unix.Close(up)
			return "", false
		}
		if cur != fd {
			unix.Close(cur)
		}
		cur = up
	}
	return "(too deep)", true
}

// refuse logs a refusal (once per protected path) and returns EACCES.
func (s *Server) refuse(op, pp, host string) syscall.Errno {
	if _, loaded := s.prot.warned.LoadOrStore(pp, struct{}{}); !loaded {
		s.log.Warn("fileserver: refused access to nacre's verified-copy store area (the app may not reach it)",
			"op", op, "protected", pp, "host", host)
	}
	return syscall.EACCES
}

// checkMountRoot refuses a mount whose host root (or a file mount's
// directory) is or lies in a protected directory.
func (s *Server) checkMountRoot(c *chroot) error {
	if pp, ok := s.prot.inside(c.rootFd); ok {
		return fmt.Errorf("host path %s is in %s, where nacre keeps verified copies of trusted files; the app must not reach it, so mount another directory: %w", c.host, pp, ErrConfig)
	}
	return nil
}

// checkAlias refuses an alias of a host file in a protected directory.
func (s *Server) checkAlias(host string) error {
	fd, err := unix.Open(path.Dir(host), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // a missing target fails at lookup
	}
	defer unix.Close(fd)
	if pp, ok := s.prot.inside(fd); ok {
		return fmt.Errorf("alias target %s is in %s, where nacre keeps verified copies: %w", host, pp, ErrConfig)
	}
	if _, ok := s.prot.named(fd, path.Base(host)); ok {
		return fmt.Errorf("alias target %s is a directory nacre keeps verified copies in: %w", host, ErrConfig)
	}
	return nil
}

// Link and Mknod are not supported (ENOTSUP, as without these methods),
// but at a protected name they fail with EACCES like the other ways of
// creating one.
var (
	_ fs.NodeLinker  = (*dirNode)(nil)
	_ fs.NodeMknoder = (*dirNode)(nil)
)

func (d *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.unsupportedCreate("link", name)
}

func (d *dirNode) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.unsupportedCreate("mknod", name)
}

func (d *dirNode) unsupportedCreate(op, name string) syscall.Errno {
	m, rel, _, errno := d.target(name)
	if errno != 0 {
		return errno
	}
	if c, ok := m.be.(*chroot); ok {
		// inParent refuses a protected name; otherwise the op says ENOTSUP.
		return c.inParent(rel, func(int, string) error { return syscall.ENOTSUP })
	}
	return syscall.ENOTSUP
}

// protectedName reports the protected path that rel of c is, if any (see
// protection.named): the parent is resolved like every path of the mount.
func (c *chroot) protectedName(rel string) (string, bool) {
	if c.file != "" || rel == "" {
		return "", false
	}
	name := path.Base(rel)
	if !c.s.prot.mayName(name) {
		return "", false
	}
	fd, err := c.open(path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", false // then rel cannot be resolved either
	}
	defer unix.Close(fd)
	return c.s.prot.named(fd, name)
}
