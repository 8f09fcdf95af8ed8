package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrUnavailable is wrapped by CheckHost's errors: this host or user cannot
// create the sandbox.
var ErrUnavailable = errors.New("sandbox unavailable")

// CheckHost reports, without starting anything, whether this process can
// probably create a sandbox: user namespaces enabled (and allowed for an
// unprivileged user), and with fuse, read-write access to /dev/fuse. The
// error says what to change. Run remains the authority.
func CheckHost(fuse bool) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("sandbox: %w: %s", ErrUnavailable, fmt.Sprintf(format, a...))
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return fail("the kernel has no user namespaces (CONFIG_USER_NS)")
	}
	sysctl := func(name string) string {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if sysctl("user.max_user_namespaces") == "0" {
		return fail("user namespaces are disabled: sysctl user.max_user_namespaces=0")
	}
	if os.Getuid() != 0 {
		if sysctl("kernel.unprivileged_userns_clone") == "0" {
			return fail("unprivileged user namespaces are disabled: sysctl kernel.unprivileged_userns_clone=0")
		}
		if sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1" {
			return fail("AppArmor restricts unprivileged user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns=1 (or give nacre an AppArmor profile with userns)")
		}
	}
	if fuse {
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return fail("cannot open /dev/fuse read-write: %v (load the fuse module; for an unprivileged user make it mode 0666, the udev default)", err)
		}
		f.Close()
	}
	return nil
}
