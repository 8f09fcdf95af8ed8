package sandbox

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// deniedSyscalls (seccomp_amd64.go, seccomp_arm64.go) fail with EPERM
// inside the sandbox: they would change or inspect the sandbox itself
// (mounts, namespaces, other processes' memory), the kernel (modules, kexec,
// bpf, swap, reboot, clock) or reach the host through handles
// (open_by_handle_at). The tables hold the numbers of this architecture
// (golang.org/x/sys/unix): go-seccomp-bpf's tables of every architecture's
// calls cost each nacre process ~0.15 ms of package initialization at
// start, twice per run (nacre and the sandbox's PID 1).
type sysNum struct {
	name string
	nr   uint32
}

// cloneNewMask is every CLONE_NEW* bit that clone(2) accepts in its flags
// (CLONE_NEWTIME shares its value with the exit-signal bits and is only
// honoured by unshare and clone3, both denied).
const cloneNewMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// Offsets in struct seccomp_data: nr, arch, then args[6] as 64-bit words
// (little-endian: the low half of args[0] at 16).
const (
	seccompNrOff   = 0
	seccompArchOff = 4
	seccompArg0Lo  = 16
)

// seccompProgram builds the application's filter for the running
// architecture. Denied calls get EPERM, or a user notification when they are
// to be logged (the supervisor then answers EPERM).
func seccompProgram(disallowSubprocesses, notify bool) ([]unix.SockFilter, error) {
	insns, err := seccompInstructions(disallowSubprocesses, notify)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return prog, nil
}

// seccompInstructions is the filter:
//
//	arch != this architecture        -> ENOSYS (no i386 entry around it)
//	x32 numbers (amd64)              -> ENOSYS
//	a denied call                    -> deny
//	clone with a CLONE_NEW* flag     -> deny
//	clone without CLONE_THREAD       -> deny (disallowSubprocesses)
//	clone3                           -> ENOSYS (its flags are in memory, where
//	                                    BPF cannot look; glibc falls back to clone)
//	anything else                    -> allow
func seccompInstructions(disallowSubprocesses, notify bool) ([]bpf.Instruction, error) {
	if seccompArch == 0 {
		return nil, fmt.Errorf("seccomp filter: no syscall table for this architecture")
	}
	deny := uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.EPERM)
	if notify {
		deny = unix.SECCOMP_RET_USER_NOTIF
	}
	enosys := uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.ENOSYS)
	denied := deniedSyscalls
	if disallowSubprocesses {
		denied = append(append([]sysNum(nil), denied...), forkSyscalls...)
	}
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompArchOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: seccompArch, SkipTrue: 1},
		bpf.RetConstant{Val: enosys},
		bpf.LoadAbsolute{Off: seccompNrOff, Size: 4},
	}
	if x32Bit != 0 {
		p = append(p,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			bpf.RetConstant{Val: enosys})
	}
	// The list's jumps land on the returns right after it: the longest,
	// from the first denied call to retDeny, skips len(denied)+3
	// instructions (a classic BPF jump skips at most 255).
	if len(denied)+3 > 255 {
		return nil, fmt.Errorf("seccomp filter: %d denied calls do not fit one jump", len(denied))
	}
	for i, s := range denied {
		p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: s.nr, SkipTrue: uint8(len(denied) + 3 - i)}) // -> retDeny
	}
	p = append(p,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone, SkipTrue: 4},  // -> clone checks
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone3, SkipTrue: 1}, // -> retENOSYS
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.RetConstant{Val: enosys},
		bpf.RetConstant{Val: deny}, // retDeny
		// clone checks: flags are args[0]; every bit tested is in its low half.
		bpf.LoadAbsolute{Off: seccompArg0Lo, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: cloneNewMask, SkipTrue: 2}, // -> deny
	)
	if disallowSubprocesses {
		p = append(p, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_THREAD, SkipFalse: 1}) // no thread -> deny
	} else {
		p = append(p, bpf.Jump{Skip: 0})
	}
	p = append(p,
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.RetConstant{Val: deny})
	return p, nil
}

// prebuilt is the filter PID 1 builds while its view is set up (cold code,
// ~0.1-0.2 ms on the way to the application's start otherwise).
var prebuilt struct {
	once             sync.Once
	started          bool
	disallow, notify bool
	prog             []unix.SockFilter
	err              error
}

// prebuildSeccomp starts building the filter for these settings.
func prebuildSeccomp(disallowSubprocesses, notify bool) {
	prebuilt.disallow, prebuilt.notify, prebuilt.started = disallowSubprocesses, notify, true
	go prebuilt.once.Do(func() { prebuilt.prog, prebuilt.err = seccompProgram(disallowSubprocesses, notify) })
}

// builtSeccomp returns the prebuilt filter if it has these settings, else
// builds it.
func builtSeccomp(disallowSubprocesses, notify bool) ([]unix.SockFilter, error) {
	if prebuilt.started && prebuilt.disallow == disallowSubprocesses && prebuilt.notify == notify {
		prebuilt.once.Do(func() {}) // waits for the build
		return prebuilt.prog, prebuilt.err
	}
	return seccompProgram(disallowSubprocesses, notify)
}

// syscallName names a denied call's number for the log.
func syscallName(nr int32) string {
	filtered := []sysNum{{"clone", sysClone}, {"clone3", sysClone3}}
	for _, tables := range [][]sysNum{deniedSyscalls, forkSyscalls, filtered} {
		for _, s := range tables {
			if int64(s.nr) == int64(nr) {
				return s.name
			}
		}
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// loadSeccomp sets no_new_privs and installs the filter on every thread of
// the calling process. With notify it returns the listener fd.
func loadSeccomp(disallowSubprocesses, notify bool) (int, error) {
	prog, err := builtSeccomp(disallowSubprocesses, notify)
	if err != nil {
		return -1, err
	}
	if err := linux.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("set no_new_privs: %w", err)
	}
	flags := uint(unix.SECCOMP_FILTER_FLAG_TSYNC)
	if notify {
		// A listener and TSYNC together need TSYNC_ESRCH (Linux 5.7).
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	fd, err := linux.SeccompSetFilter(flags, prog)
	if err != nil {
		return -1, fmt.Errorf("install seccomp filter: %w", err)
	}
	return fd, nil
}

// superviseDenied answers every notification on listener with EPERM and
// reports the call; it returns when the listener fails (no filtered task left).
func superviseDenied(listener int, report func(syscall string, pid int)) {
	for {
		var n linux.SeccompNotif
		if err := linux.SeccompNotifRecv(listener, &n); err != nil {
			if errors.Is(err, unix.ENOENT) { // the caller died before we read it
				continue
			}
			return
		}
		resp := linux.SeccompNotifResp{ID: n.ID, Error: -int32(unix.EPERM)}
		_ = linux.SeccompNotifSend(listener, &resp) // ENOENT: caller gone
		report(syscallName(n.Nr), int(n.Pid))
	}
}
