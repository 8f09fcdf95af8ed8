package fileserver

import (
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fileClass is the server's decision about a host file.
type fileClass int

const (
	classDenied  fileClass = iota // unlisted under Strict: no data access
	classTrusted                  // read-only, every read verified
	classAllowed                  // in Config.Allowed: unverified read-write
	classLogged                   // unlisted under AllowAllButLog: read-write, warned once
)

func (c fileClass) String() string {
	return [...]string{"denied", "trusted", "allowed", "unlisted-allowed-by-policy"}[c]
}

// writable reports whether the app may change files of this class.
func (c fileClass) writable() bool { return c == classAllowed || c == classLogged }

// Ids reported for what the app may not change; see the package doc.
const (
	noOwner = 0xFFFFFFFF
	modeDir = syscall.S_IFDIR
	modeReg = syscall.S_IFREG
)

// classify decides about the host file host (Gramine's order: trusted first).
func (s *Server) classify(host string) fileClass {
	switch {
	case s.trusted.Contains(host):
		return classTrusted
	case s.isAllowed(host):
		return classAllowed
	case s.cfg.Policy == AllowAllButLog:
		return classLogged
	}
	return classDenied
}

func (s *Server) isAllowed(host string) bool {
	for _, a := range s.allowed {
		if under(host, a) {
			return true
		}
	}
	return false
}

// dirWritable reports whether the app may create, remove or rename entries in
// the host directory host: under AllowAllButLog, in an allowed directory, or on
// the way to an allowed entry (so that allowed files can be created). Each
// entry created or removed is still classified on its own.
func (s *Server) dirWritable(host string) bool {
	if s.cfg.Policy == AllowAllButLog || s.isAllowed(host) {
		return true
	}
	for _, a := range s.allowed {
		if under(a, host) {
			return true
		}
	}
	return false
}

// warnOnce logs the AllowAllButLog warning for a host path the first time.
func (s *Server) warnOnce(view, host string) {
	if _, loaded := s.warned.LoadOrStore(host, struct{}{}); !loaded {
		s.log.Warn("fileserver: allowing access to a file that is neither trusted nor allowed (file_check_policy = allow_all_but_log)",
			"path", view, "host", host)
	}
}

// fillAttr presents a host stat as the view's attributes for an entry of the
// given class: see "Access decisions without OPEN" in the package doc.
func (s *Server) fillAttr(out *fuse.Attr, st *unix.Stat_t, class fileClass, writableDir bool) {
	out.Size = uint64(st.Size)
	out.Blocks = uint64(st.Blocks)
	out.Blksize = uint32(st.Blksize)
	out.Atime, out.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	out.Mtime, out.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	out.Ctime, out.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	out.Nlink = uint32(st.Nlink)
	out.Rdev = uint32(st.Rdev)
	typ := st.Mode & unix.S_IFMT
	perm := st.Mode & 0o7777 &^ (unix.S_ISUID | unix.S_ISGID)
	owned := func() { out.Uid, out.Gid = s.cfg.UID, s.cfg.GID }
	unowned := func() { out.Uid, out.Gid = noOwner, noOwner }
	switch {
	case typ == unix.S_IFDIR:
		if writableDir {
			owned()
		} else {
			unowned()
			perm = 0o555
		}
	case typ == unix.S_IFLNK:
		owned()
		perm = 0o777
	case class == classTrusted:
		unowned()
		perm = 0o444
		if st.Mode&0o111 != 0 {
			perm |= 0o111
		}
		out.Nlink = 1
	case class == classDenied:
		unowned()
		perm = 0
	case !s.host.root && st.Uid != s.host.uid:
		// A rootless server can do no more with another user's file than
		// its group or "other" bits allow, but the app would have
		// CAP_DAC_OVERRIDE on a file it owns in its namespace: the kernel
		// would let the open through and the READ, WRITE or page fault
		// would fail instead (SIGBUS for a mapping). Show exactly what the
		// host grants, with no owner to override it, so open(2) fails
		// inside as it would outside.
		b := uint32(st.Mode) & 7
		if s.host.inGroup(st.Gid) {
			b = uint32(st.Mode>>3) & 7
		}
		perm = perm&^0o777 | b<<6 | b<<3 | b
		if b&6 == 6 {
			// Read and write granted: the override gains nothing, and an
			// owned inode keeps write, O_TRUNC, utimes, unlink and rename,
			// which the kernel refuses on an unowned one whatever its mode.
			owned()
		} else {
			unowned()
		}
	default:
		owned()
	}
	out.Mode = typ | perm
}

// hostIDs is who the server is on the host.
type hostIDs struct {
	root bool // euid 0: the host's permission checks pass
	uid  uint32
	gids map[uint32]bool // egid and supplementary groups
}

func currentHostIDs() hostIDs {
	h := hostIDs{root: os.Geteuid() == 0, uid: uint32(os.Geteuid()), gids: map[uint32]bool{uint32(os.Getegid()): true}}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			h.gids[uint32(g)] = true
		}
	}
	return h
}

func (h hostIDs) inGroup(gid uint32) bool { return h.gids[gid] }
