package sandbox

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// Abstract UNIX sockets have no file and belong to the network namespace,
// which the shield shares with the host (as Gramine does): without a scope
// the app could connect to every abstract socket of the host (D-Bus,
// container shims, X11). Gramine never exposes them: its UNIX sockets are
// named per instance. Landlock's scope (ABI 6, Linux 6.12) confines them to
// the app's own domain: the app's processes still reach each other's.

// landlockScopeABI is the first Landlock ABI with LANDLOCK_SCOPE_*.
const landlockScopeABI = 6

// landlockABI returns the kernel's Landlock ABI version, 0 without Landlock.
var landlockABI = sync.OnceValue(func() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
})

// AbstractSocketsScoped reports whether this kernel lets the shield keep
// the app away from the host's abstract UNIX sockets.
func AbstractSocketsScoped() bool { return landlockABI() >= landlockScopeABI }

// scopeAbstractSockets restricts the calling thread (locked, about to fork
// or exec the app) and everything it starts to the abstract sockets of its
// own Landlock domain. It does nothing on kernels without the scope; nacre
// warns about that at start.
func scopeAbstractSockets() error {
	if !AbstractSocketsScoped() {
		return nil
	}
	attr := unix.LandlockRulesetAttr{Scoped: unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET}
	// The ABI 6 layout ends at Scoped; newer fields stay out of the size.
	size := unsafe.Offsetof(attr.Scoped) + unsafe.Sizeof(attr.Scoped)
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("landlock: create the abstract-socket scope: %w", e)
	}
	defer linux.Close(int(fd))
	// Landlock needs no_new_privs (the seccomp filter sets it too).
	if err := linux.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return fmt.Errorf("landlock: restrict the application to its own abstract sockets: %w", e)
	}
	return nil
}
