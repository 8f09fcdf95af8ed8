package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bashExample prepares a signed bash example and returns its directory.
func bashExample(t *testing.T) string {
	t.Helper()
	dir := example(t, "bash")
	makeIn(t, dir, "all")
	return dir
}

func bashRun(t *testing.T, dir string, o runOpts, script string) result {
	t.Helper()
	o.dir = dir
	return nacre(t, o, "run", "bash.manifest.sgx", "-c", script)
}

func TestShieldBasics(t *testing.T) {
	dir := bashExample(t)
	t.Run("pipeline", func(t *testing.T) {
		r := bashRun(t, dir, runOpts{}, "./pipeline.sh")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
		}
		mustContain(t, "stdout", r.stdout, "a,b,c", "100 fork+exec done", "background job done", "tmp is writable", "pwd=/scripts")
	})
	t.Run("exit-status", func(t *testing.T) {
		if r := bashRun(t, dir, runOpts{}, "exit 7"); r.code != 7 {
			t.Fatalf("exit status %d, want 7 (stderr: %s)", r.code, r.stderr)
		}
	})
	t.Run("killed-by-signal", func(t *testing.T) {
		if r := bashRun(t, dir, runOpts{}, "kill -KILL $$"); r.code != 128+9 {
			t.Fatalf("exit status %d, want 137 (stderr: %s)", r.code, r.stderr)
		}
	})
	t.Run("sigterm-reaches-app", func(t *testing.T) {
		r := bashRun(t, dir, runOpts{onStart: func(p *os.Process) {
			time.Sleep(1500 * time.Millisecond)
			p.Signal(syscall.SIGTERM)
		}}, `trap 'echo got TERM; exit 42' TERM; echo ready; for i in $(seq 1 100); do sleep 0.1; done; echo timeout`)
		if r.code != 42 || !strings.Contains(r.stdout, "got TERM") {
			t.Fatalf("exit %d, stdout %q, stderr %q: SIGTERM did not reach the app", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("filesystem-view", func(t *testing.T) {
		r := bashRun(t, dir, runOpts{}, `echo /*; echo /dev/*; ls /proc | grep -c '^[0-9]'`)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, hostOnly := range []string{"/home", "/root", "/var", "/boot", "/dev/sda", "/dev/vda", "/dev/kmsg", "/dev/mem"} {
			if strings.Contains(" "+strings.ReplaceAll(r.stdout, "\n", " ")+" ", " "+hostOnly+" ") {
				t.Errorf("host path %s visible inside the shield:\n%s", hostOnly, r.stdout)
			}
		}
		mustContain(t, "view", r.stdout, "/dev/null", "/dev/urandom", "/scripts")
	})
}

func TestTrustedFileTampered(t *testing.T) {
	dir := bashExample(t)
	script := filepath.Join(dir, "scripts", "pipeline.sh")
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, append(data, []byte("\necho injected\n")...), 0o755); err != nil {
		t.Fatal(err)
	}
	r := bashRun(t, dir, runOpts{}, "cat pipeline.sh")
	if r.code == 0 || strings.Contains(r.stdout, "injected") {
		t.Fatalf("modified trusted file was read: exit %d stdout %q", r.code, r.stdout)
	}
	mustContain(t, "stderr", r.stderr, "pipeline.sh")
	if !strings.Contains(strings.ToLower(r.stderr), "mismatch") {
		t.Errorf("stderr does not report a hash mismatch:\n%s", r.stderr)
	}
}

func TestUnlistedFileRefused(t *testing.T) {
	dir := bashExample(t)
	if err := os.WriteFile(filepath.Join(dir, "scripts", "secret.txt"), []byte("not in the manifest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := bashRun(t, dir, runOpts{}, "cat secret.txt")
	if r.code == 0 || strings.Contains(r.stdout, "not in the manifest") {
		t.Fatalf("unlisted file readable: exit %d stdout %q", r.code, r.stdout)
	}
	mustContain(t, "stderr", r.stderr, "Permission denied")
}

func TestEscapesUnreachable(t *testing.T) {
	dir := bashExample(t)
	os.Symlink("/etc/shadow", filepath.Join(dir, "scripts", "abs-link"))
	os.Symlink("../../../../../../etc/passwd", filepath.Join(dir, "scripts", "rel-link"))
	for _, p := range []string{
		"/scripts/abs-link", "/scripts/rel-link", "/scripts/../../../../etc/passwd",
		"/proc/1/root/etc/passwd", "/proc/self/root/etc/passwd", "/etc/passwd", "/root",
	} {
		r := bashRun(t, dir, runOpts{}, "cat "+p+" 2>&1 || ls "+p+" 2>&1; exit 3")
		if strings.Contains(r.stdout, "root:x:0:") || strings.Contains(r.stdout, "root:*:") {
			t.Errorf("%s reached a host file:\n%s", p, r.stdout)
		}
	}
}

func TestSignedManifestModified(t *testing.T) {
	dir := bashExample(t)
	path := filepath.Join(dir, "bash.manifest.sgx")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("LANG"))
	if i < 0 {
		t.Fatal("LANG not found in signed manifest")
	}
	data[i+1] = 'B' // LANG -> LBNG: one byte
	os.WriteFile(path, data, 0o644)
	r := bashRun(t, dir, runOpts{}, "echo should-not-run")
	if r.code == 0 || strings.Contains(r.stdout, "should-not-run") {
		t.Fatalf("modified signed manifest ran: exit %d", r.code)
	}
	mustContain(t, "stderr", r.stderr, "bash.manifest.sgx")
}

// TestRootless runs the core cases as an unprivileged user.
func TestRootless(t *testing.T) {
	requireRoot(t)
	dir := bashExample(t)
	o := runOpts{asUser: "nacretest"}
	r := bashRun(t, dir, o, "./pipeline.sh; id -u")
	if r.code != 0 {
		t.Fatalf("rootless run: exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, "100 fork+exec done", "a,b,c")
	if r := bashRun(t, dir, o, "exit 9"); r.code != 9 {
		t.Fatalf("rootless exit status %d, want 9", r.code)
	}
	os.WriteFile(filepath.Join(dir, "scripts", "secret.txt"), []byte("x\n"), 0o644)
	if r := bashRun(t, dir, o, "cat secret.txt"); r.code == 0 {
		t.Fatalf("rootless: unlisted file readable")
	}
}
