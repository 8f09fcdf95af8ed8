//go:build amd64 || arm64

package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData encodes struct seccomp_data for x/net/bpf's VM, which loads
// 32-bit words big-endian where the kernel loads them native-endian: each
// word is stored big-endian at the offset the little-endian layout gives it.
func seccompData(nr int, archID uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], archID)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

// testSyscall returns the number of a call the tests use.
func testSyscall(t testing.TB, name string) int {
	t.Helper()
	if n, ok := testSyscalls[name]; ok {
		return n
	}
	for _, s := range append(append([]sysNum(nil), deniedSyscalls...), forkSyscalls...) {
		if s.name == name {
			return int(s.nr)
		}
	}
	t.Fatalf("no syscall %s", name)
	return 0
}

func TestSeccompProgram(t *testing.T) {
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		notify = unix.SECCOMP_RET_USER_NOTIF
	)
	nr := func(name string) int { return testSyscall(t, name) }
	info := struct{ ID uint32 }{seccompArch}
	fork := uint64(unix.SIGCHLD)
	thread := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM)
	for _, tc := range []struct {
		name            string
		disallow, notif bool
		nr              int
		arch            uint32
		args            []uint64
		want            uint32
	}{
		{"read", false, false, nr("read"), uint32(info.ID), nil, allow},
		{"mount", false, false, nr("mount"), uint32(info.ID), nil, eperm},
		{"mount-notify", false, true, nr("mount"), uint32(info.ID), nil, notify},
		{"unshare", false, false, nr("unshare"), uint32(info.ID), []uint64{unix.CLONE_NEWUSER}, eperm},
		{"ptrace", false, false, nr("ptrace"), uint32(info.ID), nil, eperm},
		{"bpf", false, false, nr("bpf"), uint32(info.ID), nil, eperm},
		{"open_tree", false, false, nr("open_tree"), uint32(info.ID), nil, eperm},
		{"mount_setattr", false, false, nr("mount_setattr"), uint32(info.ID), nil, eperm},
		{"clone3", false, false, nr("clone3"), uint32(info.ID), nil, enosys},
		{"clone3-notify", false, true, nr("clone3"), uint32(info.ID), nil, enosys},
		{"clone-fork", false, false, nr("clone"), uint32(info.ID), []uint64{fork}, allow},
		{"clone-newuser", false, false, nr("clone"), uint32(info.ID), []uint64{fork | unix.CLONE_NEWUSER}, eperm},
		{"clone-newnet", false, false, nr("clone"), uint32(info.ID), []uint64{fork | unix.CLONE_NEWNET}, eperm},
		{"clone-thread", false, false, nr("clone"), uint32(info.ID), []uint64{thread}, allow},
		{"fork", false, false, nr("fork"), uint32(info.ID), nil, allow},
		{"disallow-fork", true, false, nr("fork"), uint32(info.ID), nil, eperm},
		{"disallow-vfork", true, false, nr("vfork"), uint32(info.ID), nil, eperm},
		{"disallow-clone-fork", true, false, nr("clone"), uint32(info.ID), []uint64{fork}, eperm},
		{"disallow-clone-thread", true, false, nr("clone"), uint32(info.ID), []uint64{thread}, allow},
		{"disallow-clone-thread-newns", true, false, nr("clone"), uint32(info.ID), []uint64{thread | unix.CLONE_NEWNS}, eperm},
		{"disallow-execve", true, false, nr("execve"), uint32(info.ID), nil, allow},
		// The i386 entry point must not bypass the filter (a filter that
		// only checked numbers would allow any i386 call).
		{"i386", false, false, 21 /* i386 mount */, unix.AUDIT_ARCH_I386, nil, enosys},
		// x32 numbers have bit 30 set.
		{"x32", false, false, 0x40000000 | nr("mount"), uint32(info.ID), nil, enosys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := seccompInstructions(tc.disallow, tc.notif)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vm.Run(seccompData(tc.nr, tc.arch, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(got) != tc.want {
				t.Errorf("filter returned %#x, want %#x", got, tc.want)
			}
		})
	}
}

// TestSeccompInSandbox checks denials from inside with real programs and raw
// syscalls (errno printed by python's ctypes).
func TestSeccompInSandbox(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3", "unshare", "mount")
	names := []string{"mount", "umount2", "pivot_root", "chroot", "ptrace", "bpf", "unshare", "setns",
		"keyctl", "add_key", "userfaultfd", "open_tree", "fsopen", "move_mount", "mount_setattr",
		"perf_event_open", "init_module", "kexec_load", "process_vm_readv", "open_by_handle_at",
		"swapon", "reboot", "syslog", "clone3"}
	var calls []string
	for _, n := range names {
		calls = append(calls, fmt.Sprintf("(%q, %d)", n, testSyscall(t, n)))
	}
	script := `unshare -r true 2>&1; echo "unshare -r: $?"
unshare -m true 2>&1; echo "unshare -m: $?"
mount -t tmpfs none /tmp 2>&1; echo "mount: $?"
python3 -c '
import ctypes, os, errno
libc = ctypes.CDLL(None, use_errno=True)
for name, nr in [` + strings.Join(calls, ", ") + `]:
    ctypes.set_errno(0)
    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    print(name, errno.errorcode.get(ctypes.get_errno(), r))
r = libc.syscall(` + fmt.Sprint(testSyscall(t, "clone")) + `, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER|SIGCHLD)
if r == 0:
    os._exit(0)
print("clone-newuser", errno.errorcode.get(ctypes.get_errno(), r))
import subprocess
print("subprocess", subprocess.run(["/bin/true"]).returncode)
'
grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status | tr -s '\t' ' '`
	for _, uid := range []uint32{0, 1000} {
		t.Run(fmt.Sprint("uid", uid), func(t *testing.T) {
			out := sh(t, script, func(c *Config) { c.UID = uid })
			for _, want := range []string{"unshare -r: 1", "unshare -m: 1", "mount: 32", "Operation not permitted",
				"clone-newuser EPERM", "subprocess 0"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, n := range names {
				want := n + " EPERM"
				if n == "clone3" {
					want = n + " ENOSYS"
				}
				if !strings.Contains(out, "\n"+want+"\n") {
					t.Errorf("output lacks %q", want)
				}
			}
			// CAP_CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
			// SETUID, NET_BIND_SERVICE.
			effective := "CapEff: 00000000000004fb"
			if uid != 0 {
				effective = "CapEff: 0000000000000000"
			}
			for _, want := range []string{effective, "CapBnd: 00000000000004fb", "CapAmb: 0000000000000000"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if t.Failed() {
				t.Log(out)
			}
		})
	}
}

func TestDisallowSubprocesses(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3")
	cfg := baseConfig(t, "/usr/bin/python3", "-c", `
import os, threading, subprocess
r = []
t = threading.Thread(target=lambda: r.append("thread ok")); t.start(); t.join()
print(r[0])
for name, f in [("fork", os.fork), ("subprocess", lambda: subprocess.run(["/bin/true"]))]:
    try:
        f()
        print(name, "allowed")
        os._exit(0)
    except PermissionError:
        print(name, "EPERM")
`)
	cfg.DisallowSubprocesses = true
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	if want := "thread ok\nfork EPERM\nsubprocess EPERM\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// A shell cannot start a command, but exec works.
	cfg = baseConfig(t, "/bin/bash", "-c", "/bin/true; echo unreachable")
	cfg.DisallowSubprocesses = true
	_, errOut, code, err = run(t, cfg)
	if err != nil || code == 0 || !strings.Contains(errOut, "fork: Operation not permitted") {
		t.Errorf("bash starting a command: Run = %d, %v; stderr %q", code, err, errOut)
	}
	cfg = baseConfig(t, "/bin/bash", "-c", "exec /bin/echo exec ok")
	cfg.DisallowSubprocesses = true
	out, errOut, code, err = run(t, cfg)
	if err != nil || code != 0 || out != "exec ok\n" {
		t.Errorf("exec: Run = %d, %v; stdout %q stderr %q", code, err, out, errOut)
	}
}

// lockedBuffer is a bytes.Buffer safe for a slog handler and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogDenied(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3", "unshare")
	var logs lockedBuffer
	cfg := baseConfig(t, "/bin/bash", "-c", `unshare -r true 2>/dev/null; echo "unshare $?"; python3 -c '
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
print("mount", errno.errorcode[ctypes.get_errno()] if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) else "ok")
print("clone3", errno.errorcode[ctypes.get_errno()] if libc.syscall(435, 0, 0) else "ok")'`)
	cfg.LogDenied = true
	cfg.DisallowSubprocesses = false
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	if want := "unshare 1\nmount EPERM\nclone3 ENOSYS\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	got := logs.String()
	for _, want := range []string{`msg="sandbox: syscall denied" syscall=unshare pid=`, `syscall=mount pid=`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "clone3") {
		t.Errorf("clone3's ENOSYS fallback was logged as a denial:\n%s", got)
	}
}

// TestLogDeniedStage3 covers LogDenied when the filter is installed by
// stage 3 (DisallowSubprocesses): the listener crosses to PID 1.
func TestLogDeniedStage3(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3")
	var logs lockedBuffer
	cfg := baseConfig(t, "/usr/bin/python3", "-c", `
import os
try:
    os.fork()
    print("fork allowed")
    os._exit(0)
except PermissionError:
    print("fork EPERM")`)
	cfg.LogDenied = true
	cfg.DisallowSubprocesses = true
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 || out != "fork EPERM\n" {
		t.Fatalf("Run = %d, %v; stdout %q stderr %q", code, err, out, errOut)
	}
	if !strings.Contains(logs.String(), "syscall=clone pid=") {
		t.Errorf("log lacks the denied clone:\n%s", logs.String())
	}
}
