package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bashVariant prepares the bash example with extra manifest lines appended to
// its template, signed.
func bashVariant(t *testing.T, extra string) string {
	t.Helper()
	dir := example(t, "bash")
	editBashTemplate(t, dir, "", "", extra)
	makeIn(t, dir, "all")
	return dir
}

// editBashTemplate adds fs.mounts entries (after /tmp), sgx.trusted_files
// entries (after scripts/) and trailing lines to the bash example's
// template in dir; "" adds nothing.
func editBashTemplate(t *testing.T, dir, mounts, trusted, extra string) {
	t.Helper()
	tmpl := filepath.Join(dir, "bash.manifest.template")
	data, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if mounts != "" {
		s = strings.Replace(s, "  { type = \"tmpfs\", path = \"/tmp\" },\n", "  { type = \"tmpfs\", path = \"/tmp\" },\n"+mounts+"\n", 1)
	}
	if trusted != "" {
		s = strings.Replace(s, "  \"file:scripts/\",\n", "  \"file:scripts/\",\n"+trusted+"\n", 1)
	}
	if err := os.WriteFile(tmpl, []byte(s+"\n"+extra+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDisallowSubprocesses(t *testing.T) {
	dir := bashVariant(t, "sys.disallow_subprocesses = true")
	r := bashRun(t, dir, runOpts{}, "echo builtin-ok; /usr/bin/true && echo child-ran")
	mustContain(t, "stdout", r.stdout, "builtin-ok")
	if strings.Contains(r.stdout, "child-ran") {
		t.Fatalf("a subprocess ran although sys.disallow_subprocesses is set")
	}
	if !strings.Contains(r.stderr, "not permitted") {
		t.Errorf("stderr lacks the EPERM of fork:\n%s", r.stderr)
	}
}

func TestSeccompDenies(t *testing.T) {
	dir := bashVariant(t, "")
	for _, cmd := range []string{
		"/usr/bin/unshare -r /usr/bin/true",
		"/usr/bin/unshare -m /usr/bin/true",
		"/usr/bin/mount -t tmpfs none /tmp",
	} {
		r := bashRun(t, dir, runOpts{}, cmd+" && echo ALLOWED")
		if strings.Contains(r.stdout, "ALLOWED") || r.code == 0 {
			t.Errorf("%s was allowed inside the shield (exit %d)", cmd, r.code)
		}
	}
}

func TestUIDAndGID(t *testing.T) {
	dir := bashVariant(t, "loader.uid = 1000\nloader.gid = 1000")
	r := bashRun(t, dir, runOpts{}, "echo ids=$(/usr/bin/id -u):$(/usr/bin/id -g)")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, "ids=1000:1000")
}

func TestDebugLogsFileDecisions(t *testing.T) {
	dir := bashExample(t)
	r := nacre(t, runOpts{dir: dir}, "--log-level", "debug", "run", "bash.manifest.sgx", "-c", "cat pipeline.sh >/dev/null; cat nope 2>/dev/null; true")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "debug log", r.stderr, "pipeline.sh", "trusted")
}

func TestNothingLeftBehind(t *testing.T) {
	before, _ := os.ReadFile("/proc/self/mountinfo")
	dir := bashExample(t)
	r := bashRun(t, dir, runOpts{}, "(sleep 3131 &) ; (sleep 3132 &); echo started")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	time.Sleep(200 * time.Millisecond)
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if b, a := mountPoints(before), mountPoints(after); b != a {
		t.Errorf("mounts left on the host:\nbefore:\n%s\nafter:\n%s", b, a)
	}
	// The app's background sleeps must be gone: give the kernel a moment,
	// then look for processes whose argv is exactly theirs.
	var left []string
	for try := 0; try < 20; try++ {
		left = left[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && (bytes.Equal(cmd, []byte("sleep\x003131\x00")) || bytes.Equal(cmd, []byte("sleep\x003132\x00"))) {
				st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
				left = append(left, e.Name()+": "+string(st))
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("descendants of the app survived it:\n%s", strings.Join(left, "\n"))
	}
}

// TestTrustedFileChangedWhileOpen: bytes re-read from the host after open are
// verified again; a change between two reads of an open file is caught.
func TestTrustedFileChangedWhileOpen(t *testing.T) {
	dir := example(t, "bash")
	big := filepath.Join(dir, "scripts", "big.txt")
	line := strings.Repeat("x", 63) + "\n"
	if err := os.WriteFile(big, []byte(strings.Repeat(line, 4<<20/64)), 0o644); err != nil {
		t.Fatal(err)
	}
	makeIn(t, dir, "all")

	cmd := exec.Command(nacreBin, "run", "bash.manifest.sgx", "-c",
		`exec 3< /scripts/big.txt; /usr/bin/head -c 64 <&3; echo ready; read -r go; /usr/bin/tail -c 64 <&3 && echo READ-OK || echo READ-FAILED`)
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ready") {
			ready = true
			break
		}
	}
	if !ready {
		cmd.Wait()
		t.Fatalf("app never got ready; stderr:\n%s", stderr.String())
	}
	f, err := os.OpenFile(big, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("TAMPERED"), int64(4<<20-32))
	f.Close()
	io.WriteString(stdin, "go\n")
	rest, _ := io.ReadAll(stdout)
	cmd.Wait()
	if strings.Contains(string(rest), "TAMPERED") || !strings.Contains(string(rest), "READ-FAILED") {
		t.Fatalf("changed bytes reached the app or the read did not fail:\n%s\nstderr:\n%s", rest, stderr.String())
	}
	if !strings.Contains(strings.ToLower(stderr.String()), "mismatch") {
		t.Errorf("nacre did not log a hash mismatch:\n%s", stderr.String())
	}
}

// mountPoints lists the mount points of a mountinfo dump, leaving out those
// that tests of other packages (run in parallel by go test) create in their
// t.TempDir (/tmp/TestName…); nacre never mounts anything there.
func mountPoints(mountinfo []byte) string {
	var out []string
	for _, l := range strings.Split(string(mountinfo), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && !strings.HasPrefix(f[4], filepath.Join(os.TempDir(), "Test")) {
			out = append(out, f[4])
		}
	}
	return strings.Join(out, "\n")
}

// TestSignalDuringStartup: SIGTERM sent to nacre at any moment of start-up
// (before, while and after the sandbox's PID 1 starts) ends the run as the
// application killed by SIGTERM would: exit 143 (or nacre itself killed by
// it, before its handlers exist), no setup error, no hang
// (an in-flight page-cache store once left nacre in D state at exit).
func TestSignalDuringStartup(t *testing.T) {
	dir := bashExample(t)
	for i := range 20 {
		delay := time.Duration(i) * 750 * time.Microsecond
		r := nacre(t, runOpts{dir: dir, timeout: 30 * time.Second, onStart: func(p *os.Process) {
			time.Sleep(delay)
			p.Signal(syscall.SIGTERM)
		}}, "run", "bash.manifest.sgx", "-c", "/usr/bin/sleep 5; echo not-killed")
		// -1: nacre itself died of the signal, before it set up its
		// handlers (and its sandbox with it, by Pdeathsig): a shell sees
		// 143 then too.
		if (r.code != 143 && r.code != -1) || strings.Contains(r.stdout, "not-killed") {
			t.Errorf("SIGTERM after %v: exit %d, stdout %q, stderr:\n%s", delay, r.code, r.stdout, r.stderr)
		}
	}
}
