package sandbox

import "golang.org/x/sys/unix"

const (
	seccompArch = unix.AUDIT_ARCH_AARCH64
	x32Bit      = 0 // no second ABI
	sysClone    = unix.SYS_CLONE
	sysClone3   = unix.SYS_CLONE3
)

// deniedSyscalls: commonDenied (iopl, ioperm and uselib do not exist here).
var deniedSyscalls = commonDenied

// forkSyscalls: arm64 has no fork or vfork; clone without CLONE_THREAD is
// denied by the filter itself.
var forkSyscalls []sysNum
