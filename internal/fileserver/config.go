package fileserver

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nacre-tee/nacre/internal/trustedfs"
	"github.com/nacre-tee/nacre/internal/verifiedcache"
)

// Policy is what happens to files of a chroot mount that are neither trusted
// nor allowed (Gramine's sgx.file_check_policy).
type Policy int

const (
	// Strict denies unlisted files: opening them fails with EACCES.
	Strict Policy = iota
	// AllowAllButLog lets the app read and write unlisted files and logs one
	// warning per host path. Trusted files stay read-only and verified.
	AllowAllButLog
)

func (p Policy) String() string {
	switch p {
	case Strict:
		return "strict"
	case AllowAllButLog:
		return "allow_all_but_log"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("fileserver: invalid configuration")

// Config describes the filesystem view.
type Config struct {
	// Mounts are chroot-type views of host directories or files, in manifest
	// order, fs.root (Path "/") first as Gramine mounts it first. A path is
	// served by the mount with the longest matching Path, except that a mount
	// listed later whose Path is a prefix of (or equal to) an earlier one
	// hides that earlier mount, as in Gramine's mount order. Without a "/"
	// mount the root is an empty read-only directory.
	Mounts []Mount

	// MountPoints are directories of the view that must exist although no
	// host directory backs them: the sandbox mounts /proc, /dev, tmpfs paths
	// and bind mounts on them. They are empty, read-only directories.
	MountPoints []string

	// Aliases maps a path of the view to a host file, e.g.
	// "/lib64/ld-linux-x86-64.so.2" → "<runtime dir>/ld-linux-x86-64.so.2", so
	// that programs find their ELF interpreter. The host file is classified
	// (trusted, allowed, unlisted) by its host path like any other file. An
	// alias shadows whatever a mount has at that path; missing parent
	// directories are synthesized.
	Aliases map[string]string

	// Trusted is the set of trusted host files; nil means none.
	Trusted *trustedfs.Set
	// TrustedUnder reports whether a trusted file lies below host directory
	// dir (absolute, clean); nil means none does. The app may not rename
	// such a directory, nor a directory onto such a path (EXDEV, so that
	// mv copies instead): go-fuse moves the nodes below with it, and the
	// kernel would keep them at their new paths for up to an hour.
	TrustedUnder func(dir string) bool

	// Allowed are host paths of unverified read-write files: a host file is
	// allowed when it is an entry or under one (Gramine's rule).
	Allowed []string

	// Policy decides about files that are neither trusted nor allowed.
	Policy Policy

	// Log receives every file decision at debug level (view path, host path,
	// class), verification results, AllowAllButLog warnings and hash
	// mismatches (error level). Nil means slog.Default().
	Log *slog.Logger

	// UID and GID own the writable files and directories in the view, as ids
	// of the user namespace that mounted it (0: the sandbox's root).
	UID, GID uint32

	// DropHostCacheAbove: after a verified read of a trusted file larger than
	// this many bytes, the server tells the host kernel to drop the backing
	// pages, so that big files are not cached twice (host and FUSE page
	// cache). Smaller files (libraries, reused by every run) keep their host
	// pages so that a new sandbox reads them from memory. 0 means 8 MiB;
	// negative means never.
	DropHostCacheAbove int64

	// Cache is the store of verified copies of trusted files
	// (internal/verifiedcache): trusted files found there are served from
	// their copy, others are copied there as they are verified. Nil: none.
	Cache *verifiedcache.Store

	// Passthrough, with Cache and host root, answers OPEN (instead of
	// putting the kernel in no_open mode) so that trusted files with a
	// copy are passed through to it (open.go): page-cache speed for big
	// files and no READ per page fault, at one OPEN round trip per open(2).
	Passthrough bool

	// Protected are host directories the app must never reach or create,
	// whatever the mounts and file lists allow: the places where nacre
	// keeps verified copies (verifiedcache.Protected, which nil means) and
	// their parents. See protect.go.
	Protected []string
}

// Mount maps the view path Path to the host path Host, a directory or a
// single file. Symlinks in Host itself are followed once, when the server is
// created; below it, none are.
type Mount struct{ Path, Host string }

// Server serves one filesystem view. Create it with New.
type Server struct {
	cfg       Config
	log       *slog.Logger
	trusted   *trustedfs.Set
	allowed   []string
	dropAbove int64

	mounts  []*mountEntry          // visible mounts
	mountAt map[string]*mountEntry // by view path
	aliases map[string]string      // view path → host path
	synth   map[string]bool        // view directories with no backing host dir
	extra   map[string][]extraChild

	warned sync.Map // host path → struct{}: AllowAllButLog warnings given

	// noDefaultPermissions (tests) mounts without the kernel's permission
	// checks, to show that the server's own checks hold.
	noDefaultPermissions bool
	// noAhead (tests, benchmarks) turns off verify-ahead (ahead.go).
	noAhead bool
	fg      foreground // READs of trusted files in progress (ahead.go)
	dirIno  dirInos    // fixed inode numbers of mount points (dirino.go)
	host    hostIDs    // the server's own ids on the host (fillAttr)
	aheads  aheadCount // running verify-ahead and copy-ahead goroutines
	// stopAhead ends them before exit (StopAhead).
	stopAhead atomic.Bool
	dirFds    atomic.Int64 // directory nodes holding a host fd (dirfd.go)

	stats *log.Logger // FUSE request counter ($NACRE_FUSE_STATS), or nil

	cache    *verifiedcache.Store // verified copies (copy.go), or nil
	cw       copyWriter
	copies   copyStats
	openMode atomic.Bool // OPEN is answered, for passthrough (open.go)

	prot *protection // Config.Protected, resolved (protect.go)
}

// mountEntry is one visible entry of the mount table.
type mountEntry struct {
	path string // in the view, clean, absolute
	be   backend
}

// extraChild is a name the view adds to a directory: a mount, an alias or a
// synthetic directory.
type extraChild struct {
	name string
	mode uint32 // S_IFDIR or S_IFREG; a mount of a single file is S_IFREG
}

// New checks cfg, opens the host root of every mount and returns the server.
// It does no per-file work: files are classified and verified when the app
// reaches them.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg:       cfg,
		log:       cfg.Log,
		trusted:   cfg.Trusted,
		mountAt:   map[string]*mountEntry{},
		aliases:   map[string]string{},
		synth:     map[string]bool{},
		extra:     map[string][]extraChild{},
		dropAbove: cfg.DropHostCacheAbove,
		stats:     statsLogger(),
		cache:     cfg.Cache,
		host:      currentHostIDs(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	protected := cfg.Protected
	if protected == nil {
		protected = verifiedcache.Protected()
	}
	s.prot = newProtection(protected)
	if s.dropAbove == 0 {
		s.dropAbove = 8 << 20
	}
	if cfg.Trusted.Len() > 0 {
		// Fault in the READ buffers of trusted files now, on whichever core
		// is idle, rather than page by page during the app's first exec.
		go trustedfs.PrepareBuffers(4)
	}
	for _, a := range cfg.Allowed {
		if !path.IsAbs(a) {
			return nil, fmt.Errorf("allowed file %q: not an absolute host path: %w", a, ErrConfig)
		}
		s.allowed = append(s.allowed, path.Clean(a))
	}

	// Visible mounts: a later mount at a prefix of an earlier one hides it.
	all := make([]*mountEntry, 0, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		if !path.IsAbs(m.Path) || !path.IsAbs(m.Host) {
			return nil, fmt.Errorf("mount %d (%q → %q): paths must be absolute: %w", i, m.Path, m.Host, ErrConfig)
		}
		all = append(all, &mountEntry{path: path.Clean(m.Path)})
	}
	for i, m := range all {
		hidden := false
		for _, later := range all[i+1:] {
			if under(m.path, later.path) {
				hidden = true
				break
			}
		}
		if hidden {
			s.log.Debug("fileserver: mount hidden by a later one", "path", m.path, "host", cfg.Mounts[i].Host)
			continue
		}
		be, err := newChroot(s, path.Clean(cfg.Mounts[i].Host))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("mount %q: %w", m.path, err)
		}
		m.be = be
		s.mounts = append(s.mounts, m)
		if err := s.checkMountRoot(be); err != nil {
			s.Close()
			return nil, fmt.Errorf("mount %q: %w", m.path, err)
		}
		s.mountAt[m.path] = m
	}

	for _, mp := range cfg.MountPoints {
		if !path.IsAbs(mp) {
			s.Close()
			return nil, fmt.Errorf("mount point %q: not an absolute path: %w", mp, ErrConfig)
		}
		mp = path.Clean(mp)
		if _, ok := s.mountAt[mp]; !ok {
			s.synth[mp] = true
		}
		s.dirIno.pin(mp)
	}
	for view, host := range cfg.Aliases {
		if !path.IsAbs(view) || !path.IsAbs(host) || path.Clean(view) == "/" {
			s.Close()
			return nil, fmt.Errorf("alias %q → %q: paths must be absolute files: %w", view, host, ErrConfig)
		}
		if err := s.checkAlias(path.Clean(host)); err != nil {
			s.Close()
			return nil, fmt.Errorf("alias %q: %w", view, err)
		}
		s.aliases[path.Clean(view)] = path.Clean(host)
	}
	// Every ancestor of a mount, mount point or alias must be a directory of
	// the view; record the names each directory gains.
	add := func(p string, mode uint32) {
		for p != "/" {
			dir, name := path.Split(p)
			dir = path.Clean(dir)
			s.addExtra(dir, name, mode)
			if _, ok := s.mountAt[dir]; !ok && dir != "/" {
				s.synth[dir] = true
			}
			p, mode = dir, modeDir
		}
	}
	for _, m := range s.mounts {
		mode := uint32(modeDir)
		if m.be.isFile() {
			mode = modeReg
		}
		add(m.path, mode)
	}
	for mp := range s.synth {
		add(mp, modeDir)
	}
	for a := range s.aliases {
		add(a, modeReg)
	}
	for _, kids := range s.extra {
		sort.Slice(kids, func(i, j int) bool { return kids[i].name < kids[j].name })
	}
	return s, nil
}

func (s *Server) addExtra(dir, name string, mode uint32) {
	for i, c := range s.extra[dir] {
		if c.name == name {
			if mode == modeDir {
				s.extra[dir][i].mode = modeDir
			}
			return
		}
	}
	s.extra[dir] = append(s.extra[dir], extraChild{name: name, mode: mode})
}

// Close releases the host fds of the mounts. Call it after the FUSE server
// has stopped.
func (s *Server) Close() error {
	s.StopAhead()
	// Copies still being written are published if complete; the writes
	// are in memory and few (the queue is short), so this is quick.
	s.waitCopies()
	for _, m := range s.mounts {
		if m.be != nil {
			m.be.close()
		}
	}
	return nil
}

// under reports whether p is base or below it.
func under(p, base string) bool {
	if base == "/" || p == base {
		return true
	}
	return strings.HasPrefix(p, base) && p[len(base)] == '/'
}

// mountFor returns the visible mount that serves view path p, and p's path
// relative to the mount's root ("" for the root itself).
func (s *Server) mountFor(p string) (*mountEntry, string) {
	var best *mountEntry
	for _, m := range s.mounts {
		if under(p, m.path) && (best == nil || len(m.path) > len(best.path)) {
			best = m
		}
	}
	if best == nil {
		return nil, ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, best.path), "/")
	return best, rel
}
