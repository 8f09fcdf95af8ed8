package pffs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/pf"
)

// BindDir returns the BindDir of a mount from its manifest `uri`
// ("file:enc" -> "enc"); only file: URIs can hold encrypted files.
func BindDir(uri string) (string, error) {
	p, ok := strings.CutPrefix(uri, "file:")
	if !ok || p == "" {
		return "", fmt.Errorf("pffs: encrypted mount uri %q: want file:<host path>", uri)
	}
	return p, nil
}

// Config describes one encrypted mount.
type Config struct {
	// HostDir is the host directory holding the protected files (absolute,
	// or relative to nacre's working directory).
	HostDir string
	// BindDir is the mount's host path exactly as the manifest's `uri`
	// names it, without "file:" (e.g. "enc" or "/data/enc"). Every file is
	// bound to NormalizePath(BindDir + "/" + its path in the mount), as
	// Gramine binds it, so the files open in Gramine with the same
	// manifest. Empty means HostDir.
	BindDir string
	// Path is the mount's path in the application's view (for messages).
	Path string
	// KeyName names the key in Keys (Gramine's key_name, default "default").
	KeyName string
	Keys    *keys.Store
	// EnableRecovery is the manifest's enable_recovery. nacre journals
	// every flush whatever its value (see the package doc); it is kept for
	// the record and logged.
	EnableRecovery bool
	// UID and GID own every file and directory in the application's view.
	UID, GID uint32
	// CacheNodes is pf's node cache per open file (default 2048 nodes: up
	// to 8 MiB of plaintext plus its ciphertext); larger caches mean fewer
	// journaled, synced flushes during large writes.
	CacheNodes int
	Log        *slog.Logger
}

// FS is one encrypted mount's filesystem.
type FS struct {
	cfg     Config
	log     *slog.Logger
	bindDir string
	root    *dirNode

	gen atomic.Uint64 // generation of the next node

	mu     sync.Mutex
	sizes  map[uint64]sizeEntry // host inode -> plaintext size of closed files
	logged map[string]bool      // files whose failure was logged at error level
}

// fuseDevs keeps every *os.File given to Serve reachable forever: go-fuse
// closes the descriptor number itself, and the file's finalizer would
// otherwise close that number again later, when it may be another mount's.
var fuseDevs struct {
	sync.Mutex
	files []*os.File
}

// sizeEntry caches a closed file's plaintext size, valid while the host
// file's identity, size and times are unchanged.
type sizeEntry struct {
	hostSize     int64
	mtime, ctime int64
	plain        int64
}

// Names the application cannot see or create: the recovery journals (as in
// Gramine) and nacre's files under construction.
const (
	tmpPrefix = ".nacre-pf-new."
)

func hiddenName(name string) bool {
	return strings.HasSuffix(name, pf.RecoverySuffix) || strings.HasPrefix(name, tmpPrefix)
}

// New checks cfg and returns the filesystem; nothing is mounted yet.
func New(cfg Config) (*FS, error) {
	if cfg.HostDir == "" {
		return nil, errors.New("pffs: Config.HostDir is empty")
	}
	if cfg.Keys == nil {
		return nil, errors.New("pffs: Config.Keys is nil")
	}
	if cfg.KeyName == "" {
		cfg.KeyName = "default"
	}
	if cfg.BindDir == "" {
		cfg.BindDir = cfg.HostDir
	}
	if cfg.CacheNodes == 0 {
		cfg.CacheNodes = 2048
	}
	if cfg.Path == "" {
		cfg.Path = cfg.HostDir
	}
	st, err := os.Stat(cfg.HostDir)
	if err != nil {
		return nil, fmt.Errorf("pffs: encrypted mount %s: host directory: %w", cfg.Path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("pffs: encrypted mount %s: host path %s is not a directory (single-file encrypted mounts are not supported)", cfg.Path, cfg.HostDir)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	cfg.Keys.Declare(cfg.KeyName)
	f := &FS{cfg: cfg, log: log, bindDir: cfg.BindDir, sizes: map[uint64]sizeEntry{}, logged: map[string]bool{}}
	f.root = &dirNode{fsys: f}
	if !cfg.EnableRecovery {
		log.Debug("pffs: enable_recovery is off, nacre journals flushes anyway", "mount", cfg.Path)
	}
	return f, nil
}

// Root is the root node, for mounting the filesystem as a subtree of
// another go-fuse tree or with fs.Mount.
func (f *FS) Root() fs.InodeEmbedder { return f.root }

// Options returns the go-fuse options Serve uses.
func (f *FS) Options() *fs.Options {
	long := cacheTime
	// Entry and attribute timeouts are set per reply (setTimeouts): a file
	// that cannot be opened must not have its attributes cached.
	return &fs.Options{
		NegativeTimeout: &long,
		NullPermissions: true, // show a host mode of 000 as it is
		UID:             f.cfg.UID,
		GID:             f.cfg.GID,
		MountOptions: fuse.MountOptions{
			FsName:        "nacre-pf",
			Name:          "nacre-pf",
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			DisableXAttrs: true,
			// READDIRPLUS would decrypt every file's metadata on each
			// listing, and go-fuse caches a failed lookup there (no key
			// yet) as a negative entry.
			DisableReadDirPlus: true,
			// go-fuse would take a pipe, grow it and write each READ's
			// header into it, then find that decrypted data cannot be
			// spliced and fall back to writev: three wasted syscalls
			// per READ.
			DisableSplice: true,
			// Writeback caching: the kernel gathers small writes into
			// pages and owns size and mtime; nacre is the only writer of
			// these files, so the cache cannot go stale.
			ExtraCapabilities: fuse.CAP_WRITEBACK_CACHE,
		},
	}
}

// Serve creates the FUSE server on dev, a /dev/fuse descriptor already
// mounted with fd=N,rootmode=40000,user_id=U,group_id=G,allow_other,
// default_permissions. It answers INIT before returning; the caller runs
// Serve on the returned server (and unmounts). go-fuse owns dev's
// descriptor from now on.
func (f *FS) Serve(dev *os.File) (*fuse.Server, error) {
	opts := f.Options()
	fuseDevs.Lock()
	fuseDevs.files = append(fuseDevs.files, dev)
	fuseDevs.Unlock()
	raw := fs.NewNodeFS(f.root, opts)
	srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", dev.Fd()), &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("pffs: serve encrypted mount %s: %w", f.cfg.Path, err)
	}
	return srv, nil
}

// stable is the identity of a new node. Each node gets its own generation:
// a host inode number is reused after a delete, and a new file must never
// share the node (and the kernel's page cache) of a deleted one that is
// still open. One host file is one node because a name resolves to the
// node already known under it (dirNode.existing) and hard links are
// refused.
func (f *FS) stable(mode uint32, ino uint64) fs.StableAttr {
	return fs.StableAttr{Mode: mode, Ino: ino, Gen: f.gen.Add(1)}
}

func (f *FS) hostPath(rel string) string { return filepath.Join(f.cfg.HostDir, rel) }

// boundPath is the path Gramine binds into the file at rel.
func (f *FS) boundPath(rel string) string { return pf.NormalizePath(f.bindDir + "/" + rel) }

func (f *FS) appPath(rel string) string { return filepath.Join(f.cfg.Path, rel) }

// errKeyNotSet: the mount's key has no value yet.
var errKeyNotSet = errors.New("encryption key is not set")

func (f *FS) key(rel string) ([16]byte, error) {
	k, ok := f.cfg.Keys.Get(f.cfg.KeyName)
	if !ok {
		return k, fmt.Errorf("%s: %w", rel, errKeyNotSet)
	}
	return k, nil
}

// errno maps a failure on the file at rel to what the application sees and
// logs it: EACCES when the key is missing, EIO for any integrity failure
// (wrong key, tampering, bad path binding, failed recovery).
func (f *FS) errno(op, rel string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.Is(err, errKeyNotSet):
		f.logOnce(rel, "pffs: cannot open encrypted file: its key is not set",
			"file", f.appPath(rel), "key_name", f.cfg.KeyName,
			"fix", fmt.Sprintf("set fs.insecure__keys.%s in the manifest, provision it, or write its 16 bytes to /dev/attestation/keys/%s before opening", f.cfg.KeyName, f.cfg.KeyName))
		return syscall.EACCES
	case pf.IsIntegrity(err), errors.Is(err, pf.ErrRecoveryNeeded):
		f.logOnce(rel, "pffs: encrypted file failed its integrity check (wrong key or tampered on the host); the application gets EIO",
			"file", f.appPath(rel), "host", f.hostPath(rel), "op", op, "key_name", f.cfg.KeyName, "err", err)
		return syscall.EIO
	case errors.Is(err, pf.ErrPathTooLong):
		return syscall.ENAMETOOLONG
	case errors.Is(err, pf.ErrReadOnly):
		return syscall.EACCES
	case errors.Is(err, pf.ErrClosed):
		return syscall.EBADF
	case errors.As(err, &e):
		if e == syscall.EIO {
			f.log.Error("pffs: host I/O failed", "file", f.appPath(rel), "op", op, "err", err)
		}
		return e
	}
	f.log.Error("pffs: operation failed", "file", f.appPath(rel), "op", op, "err", err)
	return syscall.EIO
}

// logOnce logs the first failure of a file at error level, later ones at
// debug level (an application retrying must not flood the log).
func (f *FS) logOnce(rel, msg string, args ...any) {
	f.mu.Lock()
	first := !f.logged[rel]
	f.logged[rel] = true
	f.mu.Unlock()
	if first {
		f.log.Error(msg, args...)
	} else {
		f.log.Debug(msg, args...)
	}
}

// forgetFailure lets the next failure of rel be logged at error level again
// (after the file was replaced or deleted).
func (f *FS) forgetFailure(rel string) {
	f.mu.Lock()
	delete(f.logged, rel)
	f.mu.Unlock()
}

func (f *FS) cachedSize(st *syscall.Stat_t) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.sizes[st.Ino]
	if !ok || e.hostSize != st.Size || e.mtime != st.Mtim.Nano() || e.ctime != st.Ctim.Nano() {
		return 0, false
	}
	return e.plain, true
}

func (f *FS) cacheSize(st *syscall.Stat_t, plain int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sizes) > 100000 {
		clear(f.sizes)
	}
	f.sizes[st.Ino] = sizeEntry{hostSize: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), plain: plain}
}

// cacheTime is how long the kernel may cache names and attributes: nothing
// but this server changes the files while mounted.
const cacheTime = time.Hour

func setTimeouts(out *fuse.EntryOut, cacheAttr bool) {
	out.SetEntryTimeout(cacheTime)
	if cacheAttr {
		out.SetAttrTimeout(cacheTime)
	}
}

// fillAttr sets out from a host stat; size is the plaintext size.
func (f *FS) fillAttr(out *fuse.Attr, st *syscall.Stat_t, size int64) {
	out.FromStat(st)
	out.Size = uint64(size)
	out.Uid, out.Gid = f.cfg.UID, f.cfg.GID
	out.Blksize = 4096
}

func lstat(path string) (*syscall.Stat_t, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
