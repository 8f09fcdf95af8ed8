package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// The view is assembled under a staging tmpfs mounted over /tmp in the new
// (private) mount namespace, so nothing is created on the host. Host paths
// (RootDir, bind sources, device nodes) are opened as O_PATH descriptors
// before the staging mount can hide them, and used as /proc/self/fd/N.
// Mount points inside the view are resolved with openat2(RESOLVE_IN_ROOT),
// so a symlink in the root cannot send a mount outside it.
const (
	stagingDir = "/tmp"
	newRootDir = "/tmp/root"
)

// hostDevices are bound from the host into the sandbox's /dev; tty is
// skipped when the host has none (some container runtimes).
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

const optionalDevice = "tty"

// fdPath names a descriptor as a path the mount calls accept.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// stepErr describes a failed setup step: "sandbox: <step>: <cause>".
func stepErr(format string, a ...any) error {
	return fmt.Errorf("sandbox: "+format, a...)
}

// rootfs holds the descriptors of one setup.
type rootfs struct {
	fuse func(index, fd int) error
	cfg  *childConfig
	fds  []int // closed by close()
	root int   // O_PATH of the new root, after it is mounted
}

func (r *rootfs) track(fd int) int { r.fds = append(r.fds, fd); return fd }

func (r *rootfs) close() {
	for _, fd := range r.fds {
		_ = linux.Close(fd)
	}
	r.fds = nil
}

// setupRoot builds the whole view and pivots into it. fuse sends a mounted
// /dev/fuse fd to the parent and waits until it serves: index -1 for a FUSE
// root, else the index in cfg.Mounts of a MountFUSE mount.
func setupRoot(cfg *childConfig, fuse func(index, fd int) error) error {
	r := &rootfs{cfg: cfg, fuse: fuse}
	defer r.close()
	if err := linux.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return stepErr("make mounts private: %w", unwrapPath(err))
	}
	// Host paths first, while they are all visible.
	var rootSrc int
	if cfg.RootDir != "" {
		fd, err := linux.Open(cfg.RootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open root directory %s: %w", cfg.RootDir, unwrapPath(err))
		}
		rootSrc = r.track(fd)
	}
	bindSrc := make([]int, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		if m.Kind != MountBind {
			continue
		}
		fd, err := linux.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open bind source %s for %s: %w", m.Source, m.Path, unwrapPath(err))
		}
		bindSrc[i] = r.track(fd)
	}
	devSrc := make([]int, len(hostDevices))
	for i, d := range hostDevices {
		fd, err := linux.Open("/dev/"+d, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			if d == optionalDevice && errors.Is(err, unix.ENOENT) {
				devSrc[i] = -1
				continue
			}
			return stepErr("open host /dev/%s: %w", d, unwrapPath(err))
		}
		devSrc[i] = r.track(fd)
	}

	if err := linux.Mount("nacre", stagingDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=700,size=16k"); err != nil {
		return stepErr("mount staging tmpfs on %s: %w", stagingDir, unwrapPath(err))
	}
	if err := linux.Mkdirat(unix.AT_FDCWD, newRootDir, 0o700); err != nil {
		return stepErr("create %s: %w", newRootDir, unwrapPath(err))
	}
	if cfg.RootDir != "" {
		if err := linux.Mount(fdPath(rootSrc), newRootDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return stepErr("bind root directory %s: %w", cfg.RootDir, unwrapPath(err))
		}
		if err := remount(newRootDir, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return stepErr("remount root read-only: %w", unwrapPath(err))
		}
	} else {
		fd, err := linux.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open /dev/fuse: %w (an unprivileged user needs read-write access to it)", unwrapPath(err))
		}
		opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,default_permissions", fd, cfg.UID, cfg.GID)
		err = linux.Mount("nacre", newRootDir, "fuse.nacre", unix.MS_NOSUID|unix.MS_NODEV, opts)
		if err != nil {
			_ = linux.Close(fd)
			return stepErr("mount FUSE root: %w", unwrapPath(err))
		}
		err = fuse(-1, fd)
		_ = linux.Close(fd)
		if err != nil {
			return err
		}
	}
	root, err := linux.Open(newRootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("open new root: %w", unwrapPath(err))
	}
	r.root = r.track(root)

	var devMounts []int // under /dev: mounted once /dev exists
	for i, m := range cfg.Mounts {
		if strings.HasPrefix(m.Path, "/dev/") {
			devMounts = append(devMounts, i)
			continue
		}
		if err := r.mount(i, m, bindSrc[i]); err != nil {
			return err
		}
	}
	if err := r.mountProc(); err != nil {
		return err
	}
	if err := r.mountDev(devSrc); err != nil {
		return err
	}
	for _, i := range devMounts {
		if err := r.mount(i, cfg.Mounts[i], -1); err != nil {
			return err
		}
	}
	if err := r.pivot(); err != nil {
		return err
	}
	if cfg.Hostname != "" {
		if err := linux.Sethostname(cfg.Hostname); err != nil {
			return stepErr("set hostname %q: %w", cfg.Hostname, err)
		}
	}
	return nil
}

// target opens the mount point p (absolute, inside the view) without leaving
// the view.
func (r *rootfs) target(p string) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := linux.Openat2(r.root, strings.TrimPrefix(p, "/"), &how)
	if err != nil {
		return -1, unwrapPath(err)
	}
	return r.track(fd), nil
}

// remount changes the flags of the mount at p, keeping the flags the kernel
// locked when the mount came from a more privileged user namespace (else
// EPERM; sandbox.md pitfall 4).
func remount(p string, flags uintptr) error {
	fd, err := linux.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer linux.Close(fd)
	st, err := linux.Fstatfs(fd, p)
	if err != nil {
		return err
	}
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return linux.Mount("", fdPath(fd), "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
}

func (r *rootfs) mount(index int, m Mount, src int) error {
	tgt, err := r.target(m.Path)
	if err != nil {
		return stepErr("mount %s on %s: mount point: %w", m.Kind, m.Path, err)
	}
	switch m.Kind {
	case MountTmpfs:
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		opts := "mode=1777"
		if m.Options != "" {
			opts += "," + m.Options
		}
		if err := linux.Mount("tmpfs", fdPath(tgt), "tmpfs", flags, opts); err != nil {
			return stepErr("mount tmpfs on %s: %w", m.Path, unwrapPath(err))
		}
	case MountFUSE:
		fd, err := linux.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open /dev/fuse for %s: %w", m.Path, unwrapPath(err))
		}
		opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,default_permissions", fd, r.cfg.UID, r.cfg.GID)
		name := "nacre-" + m.Name
		if err := linux.Mount(name, fdPath(tgt), "fuse."+name, unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			_ = linux.Close(fd)
			return stepErr("mount FUSE filesystem on %s: %w", m.Path, unwrapPath(err))
		}
		err = r.fuse(index, fd)
		_ = linux.Close(fd)
		if err != nil {
			return err
		}
	case MountBind:
		if err := linux.Mount(fdPath(src), fdPath(tgt), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return stepErr("bind %s on %s: %w", m.Source, m.Path, unwrapPath(err))
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		// Re-resolve: the old descriptor is the directory under the mount.
		tgt, err = r.target(m.Path)
		if err == nil {
			err = remount(fdPath(tgt), flags)
		}
		if err != nil {
			return stepErr("remount %s on %s (ro=%t): %w", m.Source, m.Path, m.ReadOnly, unwrapPath(err))
		}
	}
	return nil
}

func (r *rootfs) mountProc() error {
	tgt, err := r.target("/proc")
	if err != nil {
		return stepErr("mount proc on /proc: mount point: %w", err)
	}
	if err := linux.Mount("proc", fdPath(tgt), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return stepErr("mount proc on /proc: %w", unwrapPath(err))
	}
	return nil
}

// mountDev builds a minimal /dev: a tmpfs with host device nodes bound onto
// empty files, a fresh devpts instance, /dev/shm and the usual symlinks; then
// makes the tmpfs itself read-only.
func (r *rootfs) mountDev(devSrc []int) error {
	tgt, err := r.target("/dev")
	if err != nil {
		return stepErr("mount tmpfs on /dev: mount point: %w", err)
	}
	const devFlags = unix.MS_NOSUID | unix.MS_NOEXEC
	if err := linux.Mount("tmpfs", fdPath(tgt), "tmpfs", devFlags, "mode=755,size=64k"); err != nil {
		return stepErr("mount tmpfs on /dev: %w", unwrapPath(err))
	}
	dev, err := r.target("/dev")
	if err != nil {
		return stepErr("open /dev: %w", err)
	}
	devPath := fdPath(dev)
	for i, d := range hostDevices {
		if devSrc[i] < 0 {
			continue
		}
		fd, err := linux.Openat(unix.AT_FDCWD, devPath+"/"+d, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return stepErr("create /dev/%s: %w", d, unwrapPath(err))
		}
		_ = linux.Close(fd)
		if err := linux.Mount(fdPath(devSrc[i]), devPath+"/"+d, "", unix.MS_BIND, ""); err != nil {
			return stepErr("bind host /dev/%s: %w", d, unwrapPath(err))
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := linux.Mkdirat(unix.AT_FDCWD, devPath+"/"+d, 0o755); err != nil {
			return stepErr("create /dev/%s: %w", d, unwrapPath(err))
		}
	}
	if err := linux.Mount("devpts", devPath+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return stepErr("mount devpts on /dev/pts: %w", unwrapPath(err))
	}
	if err := linux.Mount("shm", devPath+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return stepErr("mount tmpfs on /dev/shm: %w", unwrapPath(err))
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := linux.Symlinkat(target, unix.AT_FDCWD, devPath+"/"+name); err != nil {
			return stepErr("create /dev/%s: %w", name, unwrapPath(err))
		}
	}
	for _, m := range r.cfg.Mounts {
		if name, ok := strings.CutPrefix(m.Path, "/dev/"); ok {
			if err := linux.Mkdirat(unix.AT_FDCWD, devPath+"/"+name, 0o755); err != nil {
				return stepErr("create mount point %s: %w", m.Path, unwrapPath(err))
			}
		}
	}
	if err := linux.Mount("", devPath, "", unix.MS_REMOUNT|unix.MS_RDONLY|devFlags, ""); err != nil {
		return stepErr("remount /dev read-only: %w", unwrapPath(err))
	}
	return nil
}

// pivot makes the new root the process's root and detaches the host's.
func (r *rootfs) pivot() error {
	oldRoot, err := linux.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("open old root: %w", unwrapPath(err))
	}
	r.track(oldRoot)
	if err := linux.Fchdir(r.root, newRootDir); err != nil {
		return stepErr("enter new root: %w", unwrapPath(err))
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; it is
	// then reached through oldRoot and detached.
	if err := linux.PivotRoot(".", "."); err != nil {
		return stepErr("pivot_root: %w", unwrapPath(err))
	}
	if err := linux.Fchdir(oldRoot, "old root"); err != nil {
		return stepErr("enter old root: %w", unwrapPath(err))
	}
	if err := linux.Unmount(".", unix.MNT_DETACH); err != nil {
		return stepErr("detach old root: %w", unwrapPath(err))
	}
	if err := linux.Chdir("/"); err != nil {
		return stepErr("chdir /: %w", unwrapPath(err))
	}
	return nil
}
