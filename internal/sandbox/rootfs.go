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
	// viewDir holds the ServeRoot/RootDir root when Mounts[0] is a FUSE
	// root (encrypted fs.root): only its Binds subtrees reach the view, and
	// it is detached with the old root after pivot_root.
	viewDir = "/tmp/view"
	// procStage and devStage are where /proc and /dev are built while
	// nacre has not answered the FUSE root yet; they are then moved into
	// the view (setupRoot).
	procStage = "/tmp/proc"
	devStage  = "/tmp/dev"
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

// fuseLink passes mounted /dev/fuse descriptors to nacre: send hands one
// over, wait returns once nacre serves it (index -1 for a FUSE root, else
// the index in cfg.Mounts of a MountFUSE mount).
type fuseLink interface {
	send(index, fd int) error
	wait(index int) error
}

// rootfs holds the descriptors of one setup.
type rootfs struct {
	fuse fuseLink
	cfg  *childConfig
	fds  []int // closed by close()
	root int   // O_PATH of the new root, after it is mounted
	dev  int   // O_PATH of the staged /dev tmpfs while /dev/... mounts go there, else 0
	// sent holds the indices of MountFUSE mounts under /dev already
	// mounted and handed to nacre, whose readiness mount still awaits.
	sent map[int]bool
	// resolved holds mount points resolveAll opened ahead (tracked fds).
	resolved map[string]int
}

// resolveAll starts opening the mount points paths of the view (in r.root)
// at once, on goroutines; collect, called from setupRoot's goroutine before
// the first mount on the view, hands them to target. The result is what
// target would find after the mounts before it, since nothing is opened
// ahead when a path lies under another, and a path through a symlink
// (which could lead into another mount) is left to target; so are
// failures, for it to report.
func (r *rootfs) resolveAll(paths []string) (collect func()) {
	for _, a := range paths {
		for _, b := range paths {
			if a != b && (a == "/" || strings.HasPrefix(b, a+"/")) {
				return func() {}
			}
		}
	}
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			return func() {} // the same mount point twice: each mount sees the one before
		}
		seen[p] = true
	}
	type opened struct {
		p  string
		fd int
	}
	ch := make(chan opened, len(paths))
	root := r.root
	for _, p := range paths {
		go func() {
			how := unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_CLOEXEC,
				Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS,
			}
			fd, err := linux.Openat2(root, strings.TrimPrefix(p, "/"), &how)
			if err != nil {
				fd = -1
			}
			ch <- opened{p, fd}
		}()
	}
	return func() {
		r.resolved = make(map[string]int, len(paths))
		for range paths {
			if o := <-ch; o.fd >= 0 {
				r.resolved[o.p] = r.track(o.fd)
			}
		}
	}
}

func (r *rootfs) track(fd int) int { r.fds = append(r.fds, fd); return fd }

func (r *rootfs) close() {
	for _, fd := range r.fds {
		_ = linux.Close(fd)
	}
	r.fds = nil
}

// setupRoot builds the whole view and pivots into it.
//
// A FUSE root is answered by nacre only once its trusted set is built, on
// the start-up's critical path; /proc and /dev (with the mounts under
// /dev, such as /dev/attestation) need nothing from it, so they are built
// in the staging area meanwhile and moved into the view once the root
// serves (the moves and the mounts on the root resolve their mount points
// through it).
func setupRoot(cfg *childConfig, fuse fuseLink) error {
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
		if m.Kind != MountBind && m.Kind != MountDevice {
			continue
		}
		fd, err := linux.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open %s source %s for %s: %w", m.Kind, m.Source, m.Path, unwrapPath(err))
		}
		bindSrc[i] = r.track(fd)
		if m.Kind == MountDevice {
			if err := checkDevice(fd, m); err != nil {
				return err
			}
		}
	}
	// A FUSE root (encrypted fs.root) takes newRootDir; the usual root goes
	// to viewDir, of which only Mounts[0].Binds are bound into the view.
	fuseRoot := len(cfg.Mounts) > 0 && cfg.Mounts[0].Path == "/"
	rootDir := newRootDir
	if fuseRoot {
		rootDir = viewDir
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
	for _, d := range []string{newRootDir, rootDir, procStage, devStage} {
		if err := linux.Mkdirat(unix.AT_FDCWD, d, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return stepErr("create %s: %w", d, unwrapPath(err))
		}
	}
	rootServed := true
	if cfg.RootDir != "" {
		if err := linux.Mount(fdPath(rootSrc), rootDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return stepErr("bind root directory %s: %w", cfg.RootDir, unwrapPath(err))
		}
		if err := remount(rootDir, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return stepErr("remount root read-only: %w", unwrapPath(err))
		}
	} else {
		fd, err := linux.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open /dev/fuse: %w (an unprivileged user needs read-write access to it)", unwrapPath(err))
		}
		opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,default_permissions", fd, cfg.UID, cfg.GID)
		err = linux.Mount("nacre", rootDir, "fuse.nacre", unix.MS_NOSUID|unix.MS_NODEV, opts)
		if err != nil {
			_ = linux.Close(fd)
			return stepErr("mount FUSE root: %w", unwrapPath(err))
		}
		err = fuse.send(-1, fd)
		_ = linux.Close(fd)
		if err != nil {
			return err
		}
		rootServed = false
	}

	// The mount points on the root: /proc, /dev and the mounts not under
	// /dev. Their lookups start now, on goroutines: those on a FUSE root
	// wait in the kernel until nacre answers INIT, and then take a round
	// trip each (the first also fetches the root's attributes), while
	// /proc and /dev are built here.
	points := []string{"/proc", "/dev"}
	for i, m := range cfg.Mounts {
		if !(i == 0 && fuseRoot || strings.HasPrefix(m.Path, "/dev/")) {
			points = append(points, m.Path)
		}
	}
	collect := func() {}
	if !fuseRoot { // else the root is mounted below, once its server is ready
		root, err := linux.Open(newRootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open new root: %w", unwrapPath(err))
		}
		r.root = r.track(root)
		collect = r.resolveAll(points)
	}

	// /proc and /dev, in the staging area.
	if err := linux.Mount("proc", procStage, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return stepErr("mount proc on /proc: %w", unwrapPath(err))
	}
	if err := r.mountDev(devSrc); err != nil {
		return err
	}
	for i, m := range cfg.Mounts {
		if strings.HasPrefix(m.Path, "/dev/") && !(i == 0 && fuseRoot) {
			if err := r.mount(i, m, bindSrc[i]); err != nil {
				return err
			}
		}
	}
	r.dev = 0
	Trace("child staged /proc and /dev")

	if !rootServed {
		if err := fuse.wait(-1); err != nil {
			return err
		}
	}
	if fuseRoot {
		if err := r.mountFUSE(0, newRootDir, "/", cfg.Mounts[0].Name); err != nil {
			return err
		}
		root, err := linux.Open(newRootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return stepErr("open new root: %w", unwrapPath(err))
		}
		r.root = r.track(root)
		if err := r.bindView(cfg.Mounts[0].Binds); err != nil {
			return err
		}
	}
	collect()
	for i, m := range cfg.Mounts {
		if i == 0 && fuseRoot || strings.HasPrefix(m.Path, "/dev/") {
			continue
		}
		if err := r.mount(i, m, bindSrc[i]); err != nil {
			return err
		}
	}
	for _, mv := range []struct{ from, to string }{{procStage, "/proc"}, {devStage, "/dev"}} {
		tgt, err := r.target(mv.to)
		if err != nil {
			return stepErr("move %s into the view: mount point: %w", mv.to, err)
		}
		if err := linux.Mount(mv.from, fdPath(tgt), "", unix.MS_MOVE, ""); err != nil {
			return stepErr("move %s into the view: %w", mv.to, unwrapPath(err))
		}
	}
	if err := r.pivot(); err != nil {
		return err
	}
	Trace("child pivot")
	if cfg.Hostname != "" {
		if err := linux.Sethostname(cfg.Hostname); err != nil {
			return stepErr("set hostname %q: %w", cfg.Hostname, err)
		}
	}
	return nil
}

// target opens the mount point p (absolute, inside the view) without leaving
// the view.
// While the staged /dev is being built (r.dev), paths under /dev/ resolve
// in it. A mount point resolveAll opened is taken from there, once.
func (r *rootfs) target(p string) (int, error) {
	if fd, ok := r.resolved[p]; ok {
		delete(r.resolved, p)
		return fd, nil
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	root, rel := r.root, strings.TrimPrefix(p, "/")
	if sub, ok := strings.CutPrefix(p, "/dev/"); ok && r.dev > 0 {
		root, rel = r.dev, sub
	}
	fd, err := linux.Openat2(root, rel, &how)
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
	if r.sent[index] { // a FUSE mount that mountDev mounted
		return r.fuse.wait(index)
	}
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
		if err := r.mountFUSE(index, fdPath(tgt), m.Path, m.Name); err != nil {
			return err
		}
	case MountDevice:
		// Read-write and without nodev, like the host devices of /dev.
		if err := linux.Mount(fdPath(src), fdPath(tgt), "", unix.MS_BIND, ""); err != nil {
			return stepErr("bind host device %s on %s: %w", m.Source, m.Path, unwrapPath(err))
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

// mountFUSE mounts the FUSE filesystem of cfg.Mounts[index] at target (a
// path the mount call accepts; p names it in messages) and waits until nacre
// serves it.
func (r *rootfs) mountFUSE(index int, target, p, name string) error {
	if err := r.sendFUSE(index, target, p, name); err != nil {
		return err
	}
	return r.fuse.wait(index)
}

// sendFUSE is mountFUSE without the wait.
func (r *rootfs) sendFUSE(index int, target, p, name string) error {
	fd, err := linux.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("open /dev/fuse for %s: %w", p, unwrapPath(err))
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,default_permissions", fd, r.cfg.UID, r.cfg.GID)
	name = "nacre-" + name
	if err := linux.Mount(name, target, "fuse."+name, unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		_ = linux.Close(fd)
		return stepErr("mount FUSE filesystem on %s: %w", p, unwrapPath(err))
	}
	err = r.fuse.send(index, fd)
	_ = linux.Close(fd)
	return err
}

// bindView binds each path of binds from the root in viewDir onto the same
// path of the FUSE root. Both ends are resolved inside their own root.
func (r *rootfs) bindView(binds []string) error {
	view, err := linux.Open(viewDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("open %s: %w", viewDir, unwrapPath(err))
	}
	r.track(view)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for _, b := range binds {
		src, err := linux.Openat2(view, strings.TrimPrefix(b, "/"), &how)
		if err != nil {
			return stepErr("bind %s into the encrypted root: source: %w", b, unwrapPath(err))
		}
		r.track(src)
		tgt, err := r.target(b)
		if err != nil {
			return stepErr("bind %s into the encrypted root: mount point: %w", b, err)
		}
		if err := linux.Mount(fdPath(src), fdPath(tgt), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return stepErr("bind %s into the encrypted root: %w", b, unwrapPath(err))
		}
	}
	return nil
}

// checkDevice makes sure a device mount's source is a device node, so that
// a manifest cannot bind an arbitrary host file or directory that way.
func checkDevice(fd int, m Mount) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return stepErr("stat device %s: %w", m.Source, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
		return stepErr("device mount %s: host path %s is not a character or block device", m.Path, m.Source)
	}
	return nil
}

// mountDev builds a minimal /dev at devStage: a tmpfs with host device
// nodes bound onto empty files, a fresh devpts instance, /dev/shm and the
// usual symlinks; then makes the tmpfs itself read-only. It leaves r.dev
// set to it, for the mounts under /dev.
func (r *rootfs) mountDev(devSrc []int) error {
	const devFlags = unix.MS_NOSUID | unix.MS_NOEXEC
	if err := linux.Mount("tmpfs", devStage, "tmpfs", devFlags, "mode=755,size=64k"); err != nil {
		return stepErr("mount tmpfs on /dev: %w", unwrapPath(err))
	}
	dev, err := linux.Open(devStage, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stepErr("open /dev: %w", unwrapPath(err))
	}
	r.dev = r.track(dev)
	devPath := fdPath(dev)
	// FUSE mounts under /dev (/dev/attestation) first, without waiting:
	// nacre starts serving them while the rest of /dev is built. (Not
	// those with a readahead to set: nacre finds their mount as the newest
	// of its name, so they are mounted one at a time.)
	for i, m := range r.cfg.Mounts {
		name, ok := strings.CutPrefix(m.Path, "/dev/")
		if !ok || m.Kind != MountFUSE || m.ReadaheadKB > 0 {
			continue
		}
		if err := linux.Mkdirat(unix.AT_FDCWD, devPath+"/"+name, 0o755); err != nil {
			return stepErr("create mount point %s: %w", m.Path, unwrapPath(err))
		}
		tgt, err := r.target(m.Path)
		if err != nil {
			return stepErr("mount %s on %s: mount point: %w", m.Kind, m.Path, err)
		}
		if err := r.sendFUSE(i, fdPath(tgt), m.Path, m.Name); err != nil {
			return err
		}
		if r.sent == nil {
			r.sent = map[int]bool{}
		}
		r.sent[i] = true
	}
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
	for i, m := range r.cfg.Mounts {
		name, ok := strings.CutPrefix(m.Path, "/dev/")
		if !ok || r.sent[i] {
			continue
		}
		if m.Kind == MountDevice {
			if err := devFile(devPath, name); err != nil {
				return stepErr("create mount point %s: %w", m.Path, unwrapPath(err))
			}
			continue
		}
		if err := linux.Mkdirat(unix.AT_FDCWD, devPath+"/"+name, 0o755); err != nil {
			return stepErr("create mount point %s: %w", m.Path, unwrapPath(err))
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

// devFile creates the mount point of a device at devPath/name: its parent
// directories and an empty file, unless the entry exists already (a host
// device of hostDevices, bound again).
func devFile(devPath, name string) error {
	dir := devPath
	parts := strings.Split(name, "/")
	for _, p := range parts[:len(parts)-1] {
		dir += "/" + p
		if err := linux.Mkdirat(unix.AT_FDCWD, dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(devPath+"/"+name, &st); err == nil {
		return nil
	}
	fd, err := linux.Openat(unix.AT_FDCWD, devPath+"/"+name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return err
	}
	return linux.Close(fd)
}
