package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAbstractSocketsScoped: the shield shares the host's network
// namespace, but an app must not reach the host's abstract UNIX sockets
// (D-Bus, container shims); its own processes still reach each other's.
func TestAbstractSocketsScoped(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("python3 not installed (run scripts/install-test-deps.sh)")
	}
	if v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); e != 0 || v < 6 {
		t.Skipf("kernel without Landlock ABI 6 (abstract-socket scope): nacre warns instead")
	}
	name := fmt.Sprintf("nacre-e2e-abstract-%d", os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-secret"))
			c.Close()
		}
	}()
	// The host side is reachable from the host: the listener works.
	if c, err := net.Dial("unix", "@"+name); err != nil {
		t.Fatalf("host cannot reach its own abstract socket: %v", err)
	} else {
		c.Close()
	}
	dir := example(t, "python")
	makeIn(t, dir, "all")
	script := fmt.Sprintf(`
import os, socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0%s")
    print("host reached:", s.recv(100))
except OSError as e:
    print("host refused:", e.errno)
l = socket.socket(socket.AF_UNIX)
l.bind("\0inside-%s")
l.listen(1)
if os.fork() == 0:
    c = socket.socket(socket.AF_UNIX)
    c.connect("\0inside-%s")
    c.send(b"inside-ok")
    os._exit(0)
a, _ = l.accept()
print("inside:", a.recv(100).decode())
os.wait()
`, name, name, name)
	for _, o := range []runOpts{{dir: dir}, {dir: dir, asUser: "nacretest"}} {
		if o.asUser != "" && os.Geteuid() != 0 {
			continue
		}
		r := nacre(t, o, "run", "python.manifest.sgx", "-c", script)
		if r.code != 0 {
			t.Fatalf("run (user %q): exit %d\nstdout:%s\nstderr:%s", o.asUser, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "host reached") || strings.Contains(r.stdout, "host-secret") {
			t.Errorf("app (user %q) reached the host's abstract socket:\n%s", o.asUser, r.stdout)
		}
		mustContain(t, "stdout", r.stdout, fmt.Sprintf("host refused: %d", unix.EPERM), "inside: inside-ok")
	}
}
