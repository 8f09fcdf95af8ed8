package sandbox

import (
	"errors"
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// deniedSyscalls fail with EPERM inside the sandbox: they would change or
// inspect the sandbox itself (mounts, namespaces, other processes' memory),
// the kernel (modules, kexec, bpf, swap, reboot, clock) or reach the host
// through handles (open_by_handle_at). Names the running kernel's table does
// not know are skipped by the filter builder.
var deniedSyscalls = []string{
	"mount", "umount2", "pivot_root", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"setns", "unshare",
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"kexec_load", "kexec_file_load", "reboot",
	"init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	"swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
	"iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"uselib", "vhangup",
}

// cloneNewMask is every CLONE_NEW* bit that clone(2) accepts in its flags
// (CLONE_NEWTIME shares its value with the exit-signal bits and is only
// honoured by unshare and clone3, both denied).
const cloneNewMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

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

func seccompInstructions(disallowSubprocesses, notify bool) ([]bpf.Instruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	deny := seccomp.ActionErrno | seccomp.Action(unix.EPERM)
	if notify {
		deny = seccomp.ActionUserNotify
	}
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	cond := []seccomp.NameWithConditions{
		{Name: "clone", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: cloneNewMask}}},
	}
	if disallowSubprocesses {
		names = append(names, "fork", "vfork")
		cond = append(cond, seccomp.NameWithConditions{Name: "clone", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD},
		}})
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: names, NamesWithCondtions: cond, Action: deny},
			// clone3 passes its flags in memory, where BPF cannot look;
			// ENOSYS makes glibc fall back to clone, which is filtered.
			{Names: []string{"clone3"}, Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)},
		},
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	// go-seccomp-bpf allows every call of a foreign architecture (its
	// arch check jumps to the default action), so a 64-bit process could
	// reach the denied calls through the i386 entry (int 0x80). Refuse any
	// other architecture first.
	guard := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	return append(guard, insns...), nil
}

// loadSeccomp sets no_new_privs and installs the filter on every thread of
// the calling process. With notify it returns the listener fd.
func loadSeccomp(disallowSubprocesses, notify bool) (int, error) {
	prog, err := seccompProgram(disallowSubprocesses, notify)
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
	info, _ := arch.GetInfo("")
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
		name := fmt.Sprintf("syscall_%d", n.Nr)
		if info != nil {
			if s, ok := info.SyscallNumbers[int(n.Nr)]; ok {
				name = s
			}
		}
		report(name, int(n.Pid))
	}
}
