package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestDeviceMounts: a "dev:" chroot mount that sgx.allowed_files also lists
// shows the host device itself (here fresh nodes of the kernel's zero and
// full devices, made for the test so the check does not depend on the host's
// /dev), and one that is mounted but not allowed is left out with a warning,
// as Gramine denies it.
func TestDeviceMounts(t *testing.T) {
	requireRoot(t)
	nodes := t.TempDir()
	for name, dev := range map[string]int{"myzero": 5, "myfull": 7, "secret": 3} {
		if err := syscall.Mknod(filepath.Join(nodes, name), syscall.S_IFCHR|0o666, 1<<8|dev); err != nil {
			t.Skipf("mknod: %v", err)
		}
	}
	dir := example(t, "bash")
	editBashTemplate(t, dir, `  { path = "/dev/myzero", uri = "dev:`+nodes+`/myzero" },
  { path = "/dev/myfull", uri = "dev:`+nodes+`/myfull" },
  { path = "/dev/secret", uri = "dev:`+nodes+`/secret" },`, "",
		"sgx.allowed_files = [\n  \"dev:"+nodes+"/myzero\",\n  \"dev:"+nodes+"/myfull\",\n]")
	makeIn(t, dir, "all")

	r := nacre(t, runOpts{dir: dir}, "--log-level", "warning", "run", "bash.manifest.sgx", "-c", `
printf 'zero=%s\n' "$(head -c 4 /dev/myzero | od -An -tx1 | tr -d ' ')"
echo x 2>/dev/null >/dev/myfull && echo full-accepted || echo full-refused
[ -e /dev/secret ] && echo secret-visible || echo secret-absent
true`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, "zero=00000000", "full-refused", "secret-absent")
	mustContain(t, "stderr", r.stderr, "device mount left out", "/dev/secret")
}
