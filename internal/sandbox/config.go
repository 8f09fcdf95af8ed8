package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Config describes one sandboxed application. Paths are inside the
// application's view unless a field says "host".
type Config struct {
	// Path is the executable to start: an absolute path inside the view.
	Path string
	// Args is argv, argv[0] included. Empty means []string{Path}.
	Args []string
	// Env is the application's whole environment (KEY=value); nothing of
	// nacre's own environment is added.
	Env []string
	// Dir is the working directory inside the view; empty means "/".
	Dir string
	// UID and GID are the ids the application sees (Gramine's loader.uid and
	// loader.gid). The user namespace maps exactly this one uid and gid to
	// the invoking host uid and gid, which is what an unprivileged user may
	// do without newuidmap.
	UID, GID uint32
	// Hostname is set in the sandbox's UTS namespace; empty keeps the host's.
	Hostname string

	// The root filesystem: exactly one of ServeRoot and RootDir.

	// ServeRoot serves a FUSE root. The sandbox child opens /dev/fuse itself
	// (the kernel refuses a FUSE fd opened in another user namespace), mounts
	// it and passes the fd out; Run, outside the namespaces, calls ServeRoot
	// with it. ServeRoot must start serving before it returns, typically
	// with a dup of the fd: fuse.NewServer(rawFS, "/dev/fd/<dup>", opts)
	// (go-fuse's magic mountpoint, which answers INIT before returning),
	// then go srv.Serve(). Run closes fuseDev when ServeRoot returns, waits
	// for the server (Wait) after the sandbox ends, and never unmounts: the
	// mount lives only in the sandbox's mount namespace and dies with it,
	// which ends the server. internal/fileserver's (*Server).Serve fits.
	// The mount uses rootmode=40000, user_id=UID, group_id=GID, allow_other
	// and default_permissions, nosuid and nodev.
	ServeRoot func(fuseDev *os.File) (*fuse.Server, error)
	// RootDir is a host directory bind-mounted read-only (nosuid, nodev) as
	// the root; used by tests and for unpacked container images.
	RootDir string

	// Mounts are mounted on top of the root, in order. The root must already
	// contain each Path as a directory (and /proc and /dev).
	Mounts []Mount

	// NoFiles sets RLIMIT_NOFILE (soft and hard) when non-zero.
	NoFiles uint64
	// StackSize sets RLIMIT_STACK (soft and hard) when non-zero.
	StackSize uint64

	// DisableASLR turns off address-space randomization for the application
	// and its children (Gramine's loader.insecure__disable_aslr).
	DisableASLR bool

	// DisallowSubprocesses makes fork, vfork and clone of a new process fail
	// with EPERM; threads (clone with CLONE_THREAD) still work.
	DisallowSubprocesses bool

	// Stdin, Stdout and Stderr are the application's standard streams; nil
	// means /dev/null.
	Stdin, Stdout, Stderr *os.File

	// Log receives nacre's own messages; nil means slog.Default().
	Log *slog.Logger
	// LogDenied logs every syscall the seccomp filter denies (at level Warn,
	// with the syscall name and the pid inside the sandbox). It uses seccomp
	// user notification: PID 1 of the sandbox answers each denied call with
	// its errno, so a denied call costs a round trip; debugging only.
	LogDenied bool
}

// Mount kinds.
const (
	MountTmpfs = "tmpfs" // a fresh tmpfs private to this instance
	MountBind  = "bind"  // the host path Source (recursively)
	// MountFUSE is a FUSE filesystem served outside the sandbox by Serve,
	// exactly like ServeRoot (encrypted mounts, /dev/attestation). Its Path
	// may lie under /dev: the sandbox then creates the mount point there.
	MountFUSE = "fuse"
)

// Mount is one filesystem mounted on top of the root.
type Mount struct {
	// Kind is MountTmpfs, MountBind or MountFUSE.
	Kind string
	// Path is the absolute mount point inside the view.
	Path string
	// Source is the host path of a "bind" mount.
	Source string
	// ReadOnly makes the mount read-only.
	ReadOnly bool
	// Options are extra comma-separated tmpfs mount data, for example
	// "size=64m,mode=0755" (default mode=1777). Bind mounts take none.
	Options string
	// Serve serves a MountFUSE mount; same contract as Config.ServeRoot.
	// Name is the mount's source name shown in mountinfo ("nacre-" + Name).
	Serve func(fuseDev *os.File) (*fuse.Server, error) `json:"-"`
	Name  string                                       `json:"name,omitempty"`
}

// ErrConfig is wrapped by every error about an invalid Config.
var ErrConfig = errors.New("invalid sandbox config")

func (c *Config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("sandbox: %w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if (c.ServeRoot == nil) == (c.RootDir == "") {
		return bad("exactly one of ServeRoot and RootDir must be set")
	}
	if c.RootDir != "" && !path.IsAbs(c.RootDir) {
		return bad("RootDir %q is not an absolute path", c.RootDir)
	}
	if !path.IsAbs(c.Path) {
		return bad("Path %q is not an absolute path inside the sandbox", c.Path)
	}
	if c.Dir != "" && !path.IsAbs(c.Dir) {
		return bad("Dir %q is not an absolute path inside the sandbox", c.Dir)
	}
	for i, m := range c.Mounts {
		if err := m.validate(); err != nil {
			return bad("mount %d: %v", i, err)
		}
	}
	return nil
}

func (m *Mount) validate() error {
	if !path.IsAbs(m.Path) || path.Clean(m.Path) != m.Path || m.Path == "/" {
		return fmt.Errorf("path %q must be absolute, clean and not /", m.Path)
	}
	if m.Path == "/proc" || m.Path == "/dev" {
		return fmt.Errorf("path %q is reserved for the sandbox's own %s", m.Path, m.Path)
	}
	if strings.Contains(m.Options, "\x00") {
		return fmt.Errorf("options of %s contain a NUL byte", m.Path)
	}
	if strings.HasPrefix(m.Path, "/dev/") && m.Kind != MountFUSE {
		return fmt.Errorf("%s: only fuse mounts may be placed under the sandbox's /dev", m.Path)
	}
	switch m.Kind {
	case MountTmpfs:
		if m.Source != "" {
			return fmt.Errorf("tmpfs on %s has a Source", m.Path)
		}
	case MountFUSE:
		if m.Serve == nil {
			return fmt.Errorf("fuse mount on %s has no Serve function", m.Path)
		}
		if strings.HasPrefix(m.Path, "/dev/") && strings.Count(m.Path, "/") != 2 {
			return fmt.Errorf("fuse mount %s: only direct children of /dev may be mounted there", m.Path)
		}
	case MountBind:
		if !path.IsAbs(m.Source) {
			return fmt.Errorf("bind on %s: source %q is not an absolute host path", m.Path, m.Source)
		}
		if m.Options != "" {
			return fmt.Errorf("bind on %s: options %q are not supported", m.Path, m.Options)
		}
	default:
		return fmt.Errorf("unknown kind %q for %s (want tmpfs, bind or fuse)", m.Kind, m.Path)
	}
	return nil
}
