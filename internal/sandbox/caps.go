package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// Capabilities. The child starts as Config.UID inside its user namespace,
// which is an unprivileged uid unless UID is 0, so an exec would normally
// drop every capability. Run therefore raises all of them as ambient
// capabilities (os/exec's SysProcAttr.AmbientCaps), which survive the exec of
// PID 1 (and of stage 3) and let it set up mounts whatever the uid. They are
// capabilities over the sandbox's own namespaces only, never the host's.
// appSetup (exec.go) then, on the thread that starts the application, lowers
// the bounding set to appKeepCaps, clears the ambient set and sets permitted
// = effective = appKeepCaps before exec with no_new_privs. A non-root application therefore runs with no capability; a
// root one (UID 0) with appKeepCaps at most: enough to own and chmod its
// files, nothing to mount, trace, load modules or leave the namespaces.
var appKeepCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_FSETID,
	unix.CAP_KILL, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_NET_BIND_SERVICE,
}

// lastCap is the highest capability the running kernel knows.
func lastCap() (uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("bad /proc/sys/kernel/cap_last_cap %q", b)
	}
	return uintptr(n), nil
}

// allCaps lists every capability of the running kernel.
func allCaps() ([]uintptr, error) {
	last, err := lastCap()
	if err != nil {
		return nil, err
	}
	caps := make([]uintptr, 0, last+1)
	for c := uintptr(0); c <= last; c++ {
		caps = append(caps, c)
	}
	return caps, nil
}

// dropCapsBounding lowers the calling thread's bounding set to appKeepCaps.
// The caller must stay on this thread until exec.
func dropCapsBounding() error {
	last, err := lastCap()
	if err != nil {
		return fmt.Errorf("read cap_last_cap: %w", err)
	}
	var keep uint64
	for _, c := range appKeepCaps {
		keep |= 1 << c
	}
	for c := uintptr(0); c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := linux.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// dropCapsSets leaves the calling thread with at most appKeepCaps permitted
// and effective and nothing inheritable or ambient.
func dropCapsSets() error {
	var keep uint64
	for _, c := range appKeepCaps {
		keep |= 1 << c
	}
	if err := linux.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr, data, err := linux.Capget()
	if err != nil {
		return err
	}
	for i := range data {
		k := uint32(keep >> (32 * i))
		data[i].Permitted &= k
		data[i].Effective = data[i].Permitted
		data[i].Inheritable = 0
	}
	return linux.Capset(hdr, data)
}
