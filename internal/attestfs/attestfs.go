package attestfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/tee"
)

// KeyStore holds the encryption keys of encrypted mounts by name. It is
// shared with the encrypted-files filesystem (internal/keys.Store
// implements it). Names lists every existing key, set or not; Get reports
// false for a name that exists but has no value yet.
type KeyStore interface {
	Set(name string, key [16]byte)
	Get(name string) ([16]byte, bool)
	Names() []string
}

// KeySize is the size of an encrypted-files key.
const KeySize = 16

// ErrKeyFormat is returned by ParseRawKey for a write that is not exactly
// one key.
var ErrKeyFormat = errors.New("a key must be written as exactly 16 raw bytes in one write")

// ParseRawKey is Gramine's rule for writes to keys/<name>: exactly 16 raw
// bytes in one write(2).
func ParseRawKey(_ string, b []byte) ([16]byte, error) {
	var k [16]byte
	if len(b) != KeySize {
		return k, fmt.Errorf("%w (got %d bytes)", ErrKeyFormat, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// Config configures New.
type Config struct {
	// Platform produces the evidence. Its Name() is attestation_type;
	// tee.PlatformNone (or a nil Platform) hides the quote file.
	Platform tee.Platform
	// Measurement and Signer are the application identity bound into
	// every quote through tee.Claims.
	Measurement, Signer [32]byte
	// Keys backs keys/. Nil means an empty keys/ directory.
	Keys KeyStore
	// ParseKey turns one write(2) to keys/<name> into a key; nil means
	// ParseRawKey. An error fails the write with EACCES, as in Gramine.
	ParseKey func(name string, b []byte) ([16]byte, error)
	// UID and GID own every file (the app's ids in the mount's user
	// namespace).
	UID, GID uint32
	// ProcDir is a procfs of the callers' PID namespace ("/proc" when it
	// is nacre's own, "/proc/<sandbox init pid>/root/proc" otherwise).
	// With it, user_report_data is kept per calling process; without it,
	// one value is shared by the whole instance. See the package doc.
	ProcDir string
	// RawQuote makes quote the bare platform evidence over
	// user_report_data itself (Gramine's binding: no claims, so the
	// application identity is not bound on TDX/SNP). Default: nacre quote.
	RawQuote bool
	// QuoteTimeout bounds one evidence request (default 2 minutes).
	QuoteTimeout time.Duration
	// Now is the clock for Claims.IssuedAt (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// FS is one /dev/attestation instance.
type FS struct {
	cfg     Config
	reports *reportData

	mu      sync.Mutex
	keyInos map[string]uint64 // stable inode numbers of key names
	nextIno uint64
}

// Inode numbers of the fixed nodes (the root is 1).
const (
	inoType = 2 + iota
	inoUserReportData
	inoQuote
	inoKeys
	inoFirstKey
)

// New checks cfg and returns the filesystem; Serve or Mount serve it.
func New(cfg Config) (*FS, error) {
	if cfg.Platform == nil {
		cfg.Platform = tee.None{}
	}
	switch n := cfg.Platform.Name(); n {
	case tee.PlatformNone, tee.PlatformTDX, tee.PlatformSNP, tee.PlatformSim:
	default:
		return nil, fmt.Errorf("attestfs: platform %q cannot produce evidence (want none, tdx, snp or sim)", n)
	}
	if cfg.ParseKey == nil {
		cfg.ParseKey = ParseRawKey
	}
	if cfg.QuoteTimeout <= 0 {
		cfg.QuoteTimeout = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RawQuote && (cfg.Platform.Name() == tee.PlatformTDX || cfg.Platform.Name() == tee.PlatformSNP) {
		cfg.Log.Warn("/dev/attestation/quote is the bare platform evidence over user_report_data: it attests the VM but binds neither the manifest measurement nor the signer")
	}
	return &FS{
		cfg:     cfg,
		reports: newReportData(cfg.ProcDir),
		keyInos: map[string]uint64{},
		nextIno: inoFirstKey,
	}, nil
}

// hasQuote says whether the quote file exists: only with a TEE, as Gramine
// hides it without remote attestation.
func (a *FS) hasQuote() bool { return a.cfg.Platform.Name() != tee.PlatformNone }

func (a *FS) options() *fs.Options {
	// No caching: every value may change under the same name (keys,
	// user_report_data per caller), and key names come and go.
	var zero time.Duration
	return &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName:               "nacre-attestation",
			Name:                 "nacre-attestation",
			DisableReadDirPlus:   true,
			DisabledCapabilities: fuse.CAP_PASSTHROUGH,
			Options:              []string{"default_permissions"},
		},
	}
}

// Serve answers the kernel's INIT on dev, a /dev/fuse fd that the sandbox
// has already mounted (go-fuse's "/dev/fd/N" form), and returns the server
// without serving further requests: the caller runs (*fuse.Server).Serve.
// dev is duplicated, so the caller may close it.
func (a *FS) Serve(dev *os.File) (*fuse.Server, error) {
	fd, err := unix.FcntlInt(dev.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("serve /dev/attestation: dup /dev/fuse fd: %w", err)
	}
	o := a.options()
	raw := fs.NewNodeFS(a.root(), o)
	srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", fd), &o.MountOptions)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("serve /dev/attestation on fd %d (was it mounted with fd=%d?): %w", fd, dev.Fd(), err)
	}
	return srv, nil
}

// Mount mounts the filesystem on dir itself (root or fusermount) and
// serves it in the background: for tests and debugging.
func (a *FS) Mount(dir string) (*fuse.Server, error) {
	o := a.options()
	o.MountOptions.Options = append(o.MountOptions.Options, "allow_other")
	srv, err := fs.Mount(dir, a.root(), o)
	if err != nil {
		return nil, fmt.Errorf("mount /dev/attestation on %s: %w", dir, err)
	}
	return srv, nil
}

func (a *FS) root() fs.InodeEmbedder { return &rootNode{a: a} }

// keyIno returns the inode number of key name, the same for the life of
// the instance.
func (a *FS) keyIno(name string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ino, ok := a.keyInos[name]
	if !ok {
		ino = a.nextIno
		a.nextIno++
		a.keyInos[name] = ino
	}
	return ino
}

func (a *FS) keyExists(name string) bool {
	if a.cfg.Keys == nil {
		return false
	}
	for _, n := range a.cfg.Keys.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// callerPid is the thread id of the process that made the request, in the
// connection's PID namespace (0 if outside it or unknown).
func callerPid(ctx context.Context) uint32 {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Pid
	}
	return 0
}

// quote produces the content of the quote file for the caller's current
// user_report_data. Gramine answers a failed quote with EACCES.
func (a *FS) quote(ctx context.Context, pid uint32) ([]byte, syscall.Errno) {
	urd := a.reports.get(pid)
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QuoteTimeout)
	defer cancel()
	var (
		ev  *tee.Evidence
		err error
	)
	if a.cfg.RawQuote {
		ev, err = a.cfg.Platform.Evidence(ctx, urd)
	} else {
		ev, err = tee.Attest(ctx, a.cfg.Platform, tee.Claims{
			Measurement: a.cfg.Measurement,
			Signer:      a.cfg.Signer,
			UserData:    urd,
			IssuedAt:    a.cfg.Now(),
		})
	}
	if err != nil {
		a.cfg.Log.Error("/dev/attestation/quote: evidence request failed; the app gets EACCES", "platform", a.cfg.Platform.Name(), "pid", pid, "err", err)
		return nil, syscall.EACCES
	}
	if a.cfg.RawQuote {
		return ev.Blob, 0
	}
	b, err := EncodeQuote(ev)
	if err != nil {
		a.cfg.Log.Error("/dev/attestation/quote: encoding evidence failed; the app gets EACCES", "platform", a.cfg.Platform.Name(), "err", err)
		return nil, syscall.EACCES
	}
	a.cfg.Log.Debug("/dev/attestation/quote generated", "platform", a.cfg.Platform.Name(), "pid", pid, "bytes", len(b))
	return b, 0
}
