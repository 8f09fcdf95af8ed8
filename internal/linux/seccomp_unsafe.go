package linux

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SeccompSetFilter installs a seccomp BPF program on the calling thread
// (seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)). With
// SECCOMP_FILTER_FLAG_NEW_LISTENER the result is the notification fd, else 0.
func SeccompSetFilter(flags uint, prog []unix.SockFilter) (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return -1, os.NewSyscallError("seccomp", e)
	}
	return int(r), nil
}

// SeccompNotif is struct seccomp_notif.
type SeccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// SeccompNotifResp is struct seccomp_notif_resp.
type SeccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// SeccompNotifRecv waits for the next notification on a listener fd.
func SeccompNotifRecv(fd int, n *SeccompNotif) error {
	*n = SeccompNotif{}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// SeccompNotifSend answers a notification.
func SeccompNotifSend(fd int, r *SeccompNotifResp) error {
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	return retry(func() error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		if e != 0 {
			return e
		}
		return nil
	})
}
