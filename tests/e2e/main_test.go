// Package e2e runs the built nacre binary against real applications from
// Debian packages: every example under the shield, the tamper and escape
// cases, exit statuses and signals, as root and as an unprivileged user.
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	nacreBin string // the binary under test
	repoRoot string
	keyFile  string // signing key shared by all tests
	workRoot string // temp dir readable by the unprivileged test user
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "nacre-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workRoot = dir
	os.Chmod(dir, 0o755)
	nacreBin = filepath.Join(dir, "bin", "nacre")
	build := exec.Command("go", "build", "-trimpath", "-o", nacreBin, "./cmd/nacre")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building nacre: %v\n%s", err, out)
		return 1
	}
	keyFile = filepath.Join(dir, "key", "enclave-key.pem")
	if out, err := exec.Command(nacreBin, "gen-key", keyFile).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "nacre gen-key: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// example copies examples/<name> (and the shared makefile) into a fresh
// directory, so tests never write into the source tree, and returns its path.
func example(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(workRoot, "examples-"+strings.ReplaceAll(t.Name(), "/", "_"))
	for _, p := range []string{name, "common.mk"} {
		cmd := exec.Command("cp", "-a", filepath.Join(repoRoot, "examples", p), dst+"/")
		os.MkdirAll(dst, 0o755)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("copy example %s: %v\n%s", p, err, out)
		}
	}
	// A developer's tree may hold manifests rendered earlier, whose hashes a
	// system update has made stale: start from the sources only.
	if out, err := exec.Command("make", "-s", "-C", filepath.Join(dst, name), "clean", "NACRE="+nacreBin).CombinedOutput(); err != nil {
		t.Fatalf("make clean in %s: %v\n%s", name, err, out)
	}
	return filepath.Join(dst, name)
}

// makeIn runs make in dir with nacre and the test key.
func makeIn(t *testing.T, dir string, targets ...string) string {
	t.Helper()
	args := append([]string{"-s", "-C", dir, "NACRE=" + nacreBin, "KEY=" + keyFile}, targets...)
	cmd := exec.Command("make", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make %v in %s: %v\n%s", targets, dir, err, out.String())
	}
	return out.String()
}

// result of one nacre invocation.
type result struct {
	stdout, stderr string
	code           int
}

type runOpts struct {
	dir      string
	stdin    io.Reader
	asUser   string // run as this unprivileged user (rootless)
	env      []string
	timeout  time.Duration
	onStart  func(p *os.Process)
	wantCode *int
}

func nacre(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	cmd := exec.Command(nacreBin, args...)
	if o.asUser != "" {
		u, err := user.Lookup(o.asUser)
		if err != nil {
			t.Skipf("no user %s (run scripts/install-test-deps.sh): %v", o.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = []string{"HOME=" + u.HomeDir, "PATH=/usr/bin:/bin", "USER=" + o.asUser}
	}
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Dir = o.dir
	cmd.Stdin = o.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nacre: %v", err)
	}
	if o.onStart != nil {
		o.onStart(cmd.Process)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("nacre %v did not finish in %v\nstdout:\n%s\nstderr:\n%s", args, timeout, stdout.String(), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("nacre %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (test setup, rootless user switching)")
	}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
