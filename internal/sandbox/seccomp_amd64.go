package sandbox

import "golang.org/x/sys/unix"

const (
	seccompArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks x32 system calls, which reach the same kernel entry as
	// x86_64 ones under other numbers: refused, so that no denied call
	// slips through as its x32 twin.
	x32Bit    = 0x40000000
	sysClone  = unix.SYS_CLONE
	sysClone3 = unix.SYS_CLONE3
)

// deniedSyscalls: commonDenied and the x86 port and library calls.
var deniedSyscalls = append(commonDenied[:len(commonDenied):len(commonDenied)],
	sysNum{"iopl", unix.SYS_IOPL}, sysNum{"ioperm", unix.SYS_IOPERM}, sysNum{"uselib", unix.SYS_USELIB})

// forkSyscalls are denied as well with DisallowSubprocesses.
var forkSyscalls = []sysNum{{"fork", unix.SYS_FORK}, {"vfork", unix.SYS_VFORK}}
