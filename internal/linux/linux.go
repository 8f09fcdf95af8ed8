// Package linux wraps the Linux system calls that nacre's sandbox makes. Each
// wrapper retries on EINTR and returns an error that names the operation and,
// where there is one, the path, so callers can add the step they were doing
// and nothing else. Constants and types of golang.org/x/sys/unix may be used
// anywhere; its functions are called here.
package linux

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// retry calls fn until it fails with something other than EINTR.
func retry(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// Mount is mount(2).
func Mount(source, target, fstype string, flags uintptr, data string) error {
	return pathErr("mount", target, retry(func() error { return unix.Mount(source, target, fstype, flags, data) }))
}

// Unmount is umount2(2).
func Unmount(target string, flags int) error {
	return pathErr("umount", target, retry(func() error { return unix.Unmount(target, flags) }))
}

// PivotRoot is pivot_root(2).
func PivotRoot(newRoot, putOld string) error {
	return pathErr("pivot_root", newRoot, retry(func() error { return unix.PivotRoot(newRoot, putOld) }))
}

// Fstatfs is fstatfs(2); name is only used in the error.
func Fstatfs(fd int, name string) (unix.Statfs_t, error) {
	var st unix.Statfs_t
	err := retry(func() error { return unix.Fstatfs(fd, &st) })
	return st, pathErr("statfs", name, err)
}

// Openat2 is openat2(2) with how.
func Openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	var fd int
	err := retry(func() (err error) { fd, err = unix.Openat2(dirfd, path, how); return err })
	return fd, pathErr("openat2", path, err)
}

// Open is open(2).
func Open(path string, flags int, mode uint32) (int, error) {
	var fd int
	err := retry(func() (err error) { fd, err = unix.Open(path, flags, mode); return err })
	return fd, pathErr("open", path, err)
}

// Mkdirat is mkdirat(2).
func Mkdirat(dirfd int, path string, mode uint32) error {
	return pathErr("mkdir", path, retry(func() error { return unix.Mkdirat(dirfd, path, mode) }))
}

// Close is close(2); EINTR is not retried because the descriptor is gone.
func Close(fd int) error { return unix.Close(fd) }

// Fchdir is fchdir(2).
func Fchdir(fd int, name string) error {
	return pathErr("fchdir", name, retry(func() error { return unix.Fchdir(fd) }))
}

// Chdir is chdir(2).
func Chdir(path string) error {
	return pathErr("chdir", path, retry(func() error { return unix.Chdir(path) }))
}

// Sethostname is sethostname(2).
func Sethostname(name string) error {
	return os.NewSyscallError("sethostname", unix.Sethostname([]byte(name)))
}

// Prctl is prctl(2).
func Prctl(option int, arg2, arg3, arg4, arg5 uintptr) error {
	return os.NewSyscallError("prctl", retry(func() error { return unix.Prctl(option, arg2, arg3, arg4, arg5) }))
}

// Prlimit is prlimit(2).
func Prlimit(pid, resource int, newLimit, old *unix.Rlimit) error {
	return os.NewSyscallError("prlimit", unix.Prlimit(pid, resource, newLimit, old))
}

// Kill is kill(2).
func Kill(pid int, sig unix.Signal) error {
	return os.NewSyscallError("kill", unix.Kill(pid, sig))
}

// Wait4 is wait4(2).
func Wait4(pid int, status *unix.WaitStatus, options int) (int, error) {
	var wpid int
	err := retry(func() (err error) { wpid, err = unix.Wait4(pid, status, options, nil); return err })
	return wpid, os.NewSyscallError("wait4", err)
}

// Socketpair is socketpair(2) with SOCK_CLOEXEC.
func Socketpair(domain, typ int) ([2]int, error) {
	fds, err := unix.Socketpair(domain, typ|unix.SOCK_CLOEXEC, 0)
	return fds, os.NewSyscallError("socketpair", err)
}

// Sendmsg sends p with the descriptors fds attached (SCM_RIGHTS) and returns
// how many bytes went out: a stream socket may take fewer than len(p) when a
// signal interrupts a blocked send.
func Sendmsg(sock int, p []byte, fds ...int) (int, error) {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var n int
	err := retry(func() (err error) { n, err = unix.SendmsgN(sock, p, oob, nil, unix.MSG_NOSIGNAL); return err })
	return n, os.NewSyscallError("sendmsg", err)
}

// Recvmsg receives into p and returns the byte count and any descriptors that
// came with it (marked close-on-exec).
func Recvmsg(sock int, p []byte) (int, []int, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	err := retry(func() (err error) {
		n, oobn, _, _, err = unix.Recvmsg(sock, p, oob, unix.MSG_CMSG_CLOEXEC)
		return err
	})
	if err != nil {
		return 0, nil, os.NewSyscallError("recvmsg", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return 0, nil, os.NewSyscallError("recvmsg", err)
		}
		for i := range msgs {
			got, err := unix.ParseUnixRights(&msgs[i])
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	return n, fds, nil
}

// Capget is capget(2) for the calling thread (version 3, two data words).
func Capget() (unix.CapUserHeader, [2]unix.CapUserData, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	err := unix.Capget(&hdr, &data[0])
	return hdr, data, os.NewSyscallError("capget", err)
}

// Capset is capset(2) for the calling thread.
func Capset(hdr unix.CapUserHeader, data [2]unix.CapUserData) error {
	return os.NewSyscallError("capset", unix.Capset(&hdr, &data[0]))
}

// Setrlimit is setrlimit(2).
func Setrlimit(resource int, rl *unix.Rlimit) error {
	return os.NewSyscallError("setrlimit", unix.Setrlimit(resource, rl))
}

// Getrlimit is getrlimit(2).
func Getrlimit(resource int) (unix.Rlimit, error) {
	var rl unix.Rlimit
	err := unix.Getrlimit(resource, &rl)
	return rl, os.NewSyscallError("getrlimit", err)
}

// Symlinkat is symlinkat(2).
func Symlinkat(target string, dirfd int, name string) error {
	return pathErr("symlink", name, unix.Symlinkat(target, dirfd, name))
}

// Openat is openat(2).
func Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	var fd int
	err := retry(func() (err error) { fd, err = unix.Openat(dirfd, path, flags, mode); return err })
	return fd, pathErr("open", path, err)
}

// CloseRangeOnExec marks every descriptor from first up close-on-exec
// (close_range with CLOSE_RANGE_CLOEXEC), so none leaks through an exec.
func CloseRangeOnExec(first uint) error {
	return os.NewSyscallError("close_range", unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC))
}

// Tcgetpgrp returns the foreground process group of the terminal fd.
func Tcgetpgrp(fd int) (int, error) {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return pgrp, os.NewSyscallError("tcgetpgrp", err)
}

// Tcsetpgrp makes pgrp the foreground process group of the terminal fd.
func Tcsetpgrp(fd, pgrp int) error {
	return os.NewSyscallError("tcsetpgrp", unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp))
}

// Setpgid is setpgid(2).
func Setpgid(pid, pgid int) error {
	return os.NewSyscallError("setpgid", unix.Setpgid(pid, pgid))
}

// Getpgrp is getpgrp(2).
func Getpgrp() int { return unix.Getpgrp() }

// addrNoRandomize is ADDR_NO_RANDOMIZE from <linux/personality.h>.
const addrNoRandomize = 0x0040000

// DisableASLR adds ADDR_NO_RANDOMIZE to the calling process's personality.
func DisableASLR() error {
	cur, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if errno != 0 {
		return &os.SyscallError{Syscall: "personality", Err: errno}
	}
	if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, cur|addrNoRandomize, 0, 0); errno != 0 {
		return &os.SyscallError{Syscall: "personality", Err: errno}
	}
	return nil
}
