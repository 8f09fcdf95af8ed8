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
	// RootTransient says that the root (ServeRoot's server, or RootDir)
	// keeps nothing that must be saved after the application ends (its
	// writes are synchronous).
	// When it and every MountFUSE mount are Transient, RunChild returns as
	// soon as the application's status arrives (PID 1 sends it once every
	// other process of the sandbox is dead) instead of waiting for PID 1's
	// exit, the namespaces' teardown and the servers' end (~2 ms); those
	// are waited for in the background, then Teardown runs.
	RootTransient bool
	// Teardown, if set, runs once the child is reaped and every FUSE server
	// has ended: before RunChild returns, or after it when it returned early
	// (RootTransient). It does not run when RunChild fails before the child
	// got its configuration (no server was started then).
	Teardown func()
	// RootDir is a host directory bind-mounted read-only (nosuid, nodev) as
	// the root; used by tests and for unpacked container images.
	RootDir string

	// Mounts are mounted on top of the root, in order. The root must already
	// contain each Path as a directory (and /proc and /dev).
	//
	// Mounts[0] may be a MountFUSE mount at "/" (an encrypted root): it then
	// becomes the root, and the root given by ServeRoot or RootDir is mounted
	// in the sandbox's private staging area instead, never in the view; the
	// subtree at each of Mounts[0].Binds is bound from it onto the same path
	// of the new root, before the other Mounts. The FUSE root must show each
	// Binds path, each Path, /proc and /dev as a directory without creating
	// anything on the host (internal/pffs mount points).
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
	// MountDevice binds the host device node Source (a character or block
	// device) read-write onto Path, which must lie under /dev; the sandbox
	// creates the node's mount point in its /dev (Gramine's chroot mounts
	// of "dev:" URIs).
	MountDevice = "device"
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
	// Binds, for a FUSE root (Mounts[0] at "/"): the paths of the other
	// root (ServeRoot or RootDir) that are bound onto the FUSE root.
	Binds []string `json:"binds,omitempty"`
	// ReadaheadKB, for a MountFUSE mount, is the readahead window asked for
	// its backing device (host root only; 0 keeps the kernel's 128 KiB).
	// The child sees it too: such mounts are mounted one at a time.
	ReadaheadKB int `json:"readahead_kb,omitempty"`
	// Transient, for a MountFUSE mount: its server keeps nothing that must
	// be saved after the application ends (see Config.RootTransient). An
	// encrypted mount is not: it must see every RELEASE and FLUSH.
	Transient bool `json:"-"`
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
		if m.Path == "/" && i == 0 && m.Kind == MountFUSE {
			if err := m.validateRoot(); err != nil {
				return bad("mount %d: %v", i, err)
			}
			continue
		}
		if err := m.validate(); err != nil {
			return bad("mount %d: %v", i, err)
		}
	}
	return nil
}

// validateRoot checks a FUSE root (Mounts[0] at "/").
func (m *Mount) validateRoot() error {
	if m.Serve == nil {
		return errors.New("fuse root has no Serve function")
	}
	if m.Source != "" || m.Options != "" || m.ReadOnly {
		return errors.New("fuse root takes no Source, Options or ReadOnly")
	}
	for _, b := range m.Binds {
		if !path.IsAbs(b) || path.Clean(b) != b || b == "/" || strings.Contains(b, "\x00") {
			return fmt.Errorf("bind %q must be absolute, clean and not /", b)
		}
		if b == "/proc" || b == "/dev" || strings.HasPrefix(b, "/proc/") || strings.HasPrefix(b, "/dev/") {
			return fmt.Errorf("bind %q: /proc and /dev are the sandbox's own", b)
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
	if strings.HasPrefix(m.Path, "/dev/") && m.Kind != MountFUSE && m.Kind != MountDevice {
		return fmt.Errorf("%s: only fuse and device mounts may be placed under the sandbox's /dev", m.Path)
	}
	if len(m.Binds) > 0 {
		return fmt.Errorf("%s: only a fuse root (the first mount, at /) has Binds", m.Path)
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
	case MountDevice:
		if !strings.HasPrefix(m.Path, "/dev/") {
			return fmt.Errorf("device %s: the mount point must lie under /dev (the sandbox's /dev is a tmpfs it builds itself)", m.Path)
		}
		if reservedDev[strings.SplitN(strings.TrimPrefix(m.Path, "/dev/"), "/", 2)[0]] {
			return fmt.Errorf("device %s: the sandbox's own /dev entry of that name cannot be replaced", m.Path)
		}
		if !path.IsAbs(m.Source) {
			return fmt.Errorf("device %s: source %q is not an absolute host path", m.Path, m.Source)
		}
		if m.Options != "" || m.ReadOnly {
			return fmt.Errorf("device %s: options and read-only are not supported", m.Path)
		}
	default:
		return fmt.Errorf("unknown kind %q for %s (want tmpfs, bind, fuse or device)", m.Kind, m.Path)
	}
	return nil
}

// reservedDev are names of the sandbox's /dev that a device mount may not
// replace: directories and links the sandbox makes itself, and
// /dev/attestation. The host devices it binds (null, zero, ...) may be
// bound again: the node is the same kind of file.
var reservedDev = map[string]bool{
	"pts": true, "shm": true, "ptmx": true, "fd": true, "stdin": true,
	"stdout": true, "stderr": true, "attestation": true,
}
