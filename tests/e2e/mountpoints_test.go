package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMkdirKeepsMounts: mkdir -p through a mount point (and mkdir, rmdir or
// mv of one) must not detach the shield's mounts. The kernel revalidates
// such paths with a fresh LOOKUP and used to drop /tmp when the file server
// answered with another node id.
func TestMkdirKeepsMounts(t *testing.T) {
	dir := bashExample(t)
	script := `before=$(wc -l < /proc/self/mounts)
mkdir -p /tmp/a/b && echo data > /tmp/a/b/f || echo "mkdir -p failed"
mkdir /tmp /dev /proc 2>/dev/null
rmdir /tmp 2>/dev/null; mv /dev /moved 2>/dev/null
after=$(wc -l < /proc/self/mounts)
echo "mounts $before $after"
cat /tmp/a/b/f
echo probe > /dev/null && echo "dev-null-ok"
test -e /proc/self/status && echo "proc-ok"`
	for _, o := range []runOpts{{}, {asUser: "nacretest"}} {
		r := bashRun(t, dir, o, script)
		if r.code != 0 {
			t.Fatalf("user %q: exit %d\nstdout:%s\nstderr:%s", o.asUser, r.code, r.stdout, r.stderr)
		}
		var before, after string
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "mounts" {
				before, after = f[1], f[2]
			}
		}
		if before == "" || before != after {
			t.Errorf("user %q: mounts before/after %q/%q: a mount was detached\n%s", o.asUser, before, after, r.stdout)
		}
		mustContain(t, "stdout", r.stdout, "data", "dev-null-ok", "proc-ok")
		if strings.Contains(r.stdout, "mkdir -p failed") {
			t.Errorf("user %q: mkdir -p /tmp/a/b failed", o.asUser)
		}
	}
}

// TestAppendAfterRevalidation: an app appends to an allowed file through
// an fd it keeps open while another process appends through a fresh open,
// after a mkdir of the (existing) directory made the kernel look its path
// up again. Both writers must share one inode: with two, each had its own
// idea of the file's size and one append overwrote the other.
func TestAppendAfterRevalidation(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("python3 not installed (run scripts/install-test-deps.sh)")
	}
	dir := example(t, "python")
	makeIn(t, dir, "all")
	script := `
import os, subprocess
f = open("/data/log", "a", buffering=1)
f.write("one\n")
os.makedirs("/data", exist_ok=True)   # mkdir: EEXIST, after a fresh LOOKUP of /data
subprocess.run(["/usr/bin/sh", "-c", "echo two >> /data/log"], check=True)
f.write("three\n")
f.close()
print(repr(open("/data/log").read()))
`
	r := nacre(t, runOpts{dir: dir}, "run", "python.manifest.sgx", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, `'one\ntwo\nthree\n'`)
	host, err := os.ReadFile(filepath.Join(dir, "data", "log"))
	if err != nil || string(host) != "one\ntwo\nthree\n" {
		t.Errorf("host file %q, %v; want one, two, three", host, err)
	}
}

// TestRenamedAllowedDirOverTrustedPath: a node the kernel keeps after the
// app renamed an allowed directory must not answer for a trusted path that
// the rename put it at: once looked up again, the trusted path is verified.
func TestRenamedAllowedDirOverTrustedPath(t *testing.T) {
	dir := example(t, "bash")
	editBashTemplate(t, dir, `  { path = "/data", uri = "file:data" },`, `  "file:data/e/x",`, `sgx.allowed_files = ["file:data/"]`)
	os.MkdirAll(filepath.Join(dir, "data", "e"), 0o777)
	os.WriteFile(filepath.Join(dir, "data", "e", "x"), []byte("TRUSTED\n"), 0o666)
	makeIn(t, dir, "all")
	// The allowed file d/x is read (the kernel keeps its node), then the app
	// tries to put d where e (with trusted e/x) was. Renaming a directory with
	// trusted files below it is refused (EXDEV: mv copies, and the trusted
	// file cannot be removed), so e/x stays the verified file. Served from
	// the allowed node, it would read "UNVERIFI" (cut to the trusted size).
	script := `cd /data && mkdir d && echo UNVERIFIED > d/x && cat d/x >/dev/null
mv e e.old 2>/dev/null; echo "mv-e=$?"
mv -T d e 2>/dev/null; echo "mv-d=$?"
mkdir e/x 2>/dev/null; cat e/x; echo "rc=$?"`
	r := bashRun(t, dir, runOpts{}, script)
	if strings.Contains(r.stdout, "UNVERIFI") {
		t.Fatalf("allowed bytes served at a trusted path:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, "mv-e=1", "TRUSTED", "rc=0")
}
