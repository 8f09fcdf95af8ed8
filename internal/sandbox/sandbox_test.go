package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// The test binary is the re-exec target (/proc/self/exe).
	if IsChild() {
		ChildMain()
	}
	if m := os.Getenv(helperEnv); m != "" {
		helperMain(m)
	}
	if mode := os.Getenv(ttyHelperEnv); mode != "" {
		ttyHelperMain(mode)
	}
	os.Exit(m.Run())
}

// skipUnlessSandbox skips when this host cannot create the namespaces.
func skipUnlessSandbox(t testing.TB) {
	t.Helper()
	if err := CheckHost(false); err != nil {
		t.Skip(err)
	}
}

// needTools skips unless the host has these programs in /usr/bin (the
// sandboxes in these tests see the host's /usr).
func needTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat("/usr/bin/" + n); err != nil {
			t.Skipf("/usr/bin/%s not installed", n)
		}
	}
}

// makeRoot builds a root directory with the mount points the tests use and
// Debian's merged-/usr symlinks; it is world-readable so the rootless run can
// use it too.
func makeRoot(t testing.TB) string {
	t.Helper()
	base, err := os.MkdirTemp("", "nacre-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	root := filepath.Join(base, "root")
	for _, d := range []string{"proc", "dev", "tmp", "usr", "etc", "data", "work/sub"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc-marker"), []byte("root file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, root} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// baseConfig runs argv in a RootDir sandbox with host /usr and /etc bound
// read-only and a private /tmp.
func baseConfig(t testing.TB, argv ...string) Config {
	return rootConfig(makeRoot(t), argv...)
}

// rootConfig is baseConfig on an existing root directory.
func rootConfig(root string, argv ...string) Config {
	return Config{
		Path:    argv[0],
		Args:    argv,
		Env:     []string{"PATH=/usr/bin:/bin", "HOME=/", "LANG=C"},
		RootDir: root,
		UID:     uint32(os.Getuid()),
		GID:     uint32(os.Getgid()),
		Mounts: []Mount{
			{Kind: "bind", Path: "/usr", Source: "/usr", ReadOnly: true},
			{Kind: "bind", Path: "/etc", Source: "/etc", ReadOnly: true},
			{Kind: "tmpfs", Path: "/tmp", Options: "size=16m"},
		},
	}
}

// run runs cfg and returns its stdout, stderr and exit code.
func run(t testing.TB, cfg Config) (string, string, int, error) {
	t.Helper()
	var outs [2]bytes.Buffer
	var ws [2]*os.File
	var done [2]chan struct{}
	for i := range ws {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
		done[i] = make(chan struct{})
		go func() { io.Copy(&outs[i], r); r.Close(); close(done[i]) }()
	}
	cfg.Stdout, cfg.Stderr = ws[0], ws[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, err := Run(ctx, cfg)
	for i := range ws {
		ws[i].Close()
		<-done[i]
	}
	return outs[0].String(), outs[1].String(), code, err
}

// sh runs a shell script in a fresh sandbox and fails the test unless it
// exits 0.
func sh(t *testing.T, script string, mod ...func(*Config)) string {
	t.Helper()
	cfg := baseConfig(t, "/bin/bash", "-c", script)
	for _, f := range mod {
		f(&cfg)
	}
	out, errOut, code, err := run(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v (stderr %q)", err, errOut)
	}
	if code != 0 {
		t.Fatalf("script exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return out
}

func TestArgvEnvDirIDs(t *testing.T) {
	skipUnlessSandbox(t)
	cfg := baseConfig(t, "/bin/bash", "-c", `printf '%s|' "$0" "$1" "$FOO" "$(pwd)" "$(id -u)" "$(id -g)" "$(env | grep -c .)"; tr '\0' ' ' </proc/1/cmdline`, "arg0", "arg 1")
	cfg.Env = []string{"FOO=bar baz", "PATH=/usr/bin"}
	cfg.Dir = "/work/sub"
	cfg.UID, cfg.GID = 1234, 4321
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	// bash adds PWD, SHLVL and _ to the environment it shows.
	want := "arg0|arg 1|bar baz|/work/sub|1234|4321|5|nacre " + childArg + " "
	if out != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
	if strings.Contains(out, cfg.RootDir) {
		t.Errorf("PID 1's command line shows the host path %s", cfg.RootDir)
	}
}

func TestExitStatus(t *testing.T) {
	skipUnlessSandbox(t)
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
		{"kill -SEGV $$", 128 + 11},
		// The exit status is the application's, not its children's.
		{"(exit 9) & wait; exit 4", 4},
	} {
		t.Run(tc.script, func(t *testing.T) {
			_, errOut, code, err := run(t, baseConfig(t, "/bin/bash", "-c", tc.script))
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, errOut)
			}
			if code != tc.want {
				t.Errorf("exit status %d, want %d", code, tc.want)
			}
		})
	}
}

// startStreaming starts cfg in the background and returns a channel of its
// stdout lines and one for Run's result.
func startStreaming(t *testing.T, cfg Config) (<-chan string, <-chan [2]any) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stdout = w
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		r.Close()
	}()
	res := make(chan [2]any, 1)
	go func() {
		code, err := Run(context.Background(), cfg)
		w.Close()
		res <- [2]any{code, err}
	}()
	return lines, res
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %q", want)
		}
	}
}

func TestSignalForwarding(t *testing.T) {
	skipUnlessSandbox(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1} {
		t.Run(sig.String(), func(t *testing.T) {
			script := fmt.Sprintf(`trap 'echo got; exit 7' %d; echo ready; while :; do sleep 0.05; done`, int(sig))
			lines, res := startStreaming(t, baseConfig(t, "/bin/bash", "-c", script))
			waitLine(t, lines, "ready")
			// nacre itself receives the signal (as from a terminal or
			// a service manager) and must pass it on.
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			waitLine(t, lines, "got")
			r := <-res
			if r[1] != nil || r[0].(int) != 7 {
				t.Fatalf("Run = %v, %v; want 7, nil", r[0], r[1])
			}
		})
	}
	t.Run("untrapped", func(t *testing.T) {
		lines, res := startStreaming(t, baseConfig(t, "/bin/bash", "-c", "echo ready; exec sleep 100"))
		waitLine(t, lines, "ready")
		time.Sleep(50 * time.Millisecond) // let exec of sleep happen
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		r := <-res
		if r[1] != nil || r[0].(int) != 128+15 {
			t.Fatalf("Run = %v, %v; want 143, nil", r[0], r[1])
		}
	})
}

func TestContextCancel(t *testing.T) {
	skipUnlessSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg := baseConfig(t, "/bin/sleep", "100")
	_, err := Run(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
}

func TestProcIsolation(t *testing.T) {
	skipUnlessSandbox(t)
	// The glob runs in the shell itself, so the only processes are PID 1
	// and the shell.
	out := sh(t, `cd /proc && echo [0-9]*; echo $$; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' '`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("unexpected output %q", out)
	}
	pids := strings.Fields(lines[0])
	if len(pids) != 2 || pids[0] != "1" || pids[1] != lines[1] {
		t.Errorf("/proc shows pids %v, want [1 %s] (PID 1 and the shell)", pids, lines[1])
	}
	if lines[2] != "NoNewPrivs: 1" || lines[3] != "Seccomp: 2" {
		t.Errorf("status lines %q, want no_new_privs and seccomp filter mode", lines[2:])
	}
}

func TestDevices(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3", "od")
	out := sh(t, `ls -A /dev | tr '\n' ' '; echo; head -c 4 /dev/zero | od -An -tx1; echo x >/dev/null && echo null-ok; head -c 16 /dev/urandom | wc -c; python3 -c 'import os; m, s = os.openpty(); print(os.ttyname(s))'; touch /dev/new 2>&1 | grep -c 'Read-only'; echo x >/dev/shm/f && cat /dev/shm/f; readlink /dev/ptmx /dev/stdout`)
	want := "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n 00 00 00 00\nnull-ok\n16\n/dev/pts/0\n1\nx\npts/ptmx\n/proc/self/fd/1\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestHostnameAndRlimits(t *testing.T) {
	skipUnlessSandbox(t)
	out := sh(t, `hostname; ulimit -n; ulimit -Hn; ulimit -s`, func(c *Config) {
		c.Hostname = "enclave"
		c.NoFiles = 512
		c.StackSize = 16 << 20
	})
	if want := "enclave\n512\n512\n16384\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if h, _ := os.Hostname(); h == "enclave" {
		t.Errorf("the host's hostname changed")
	}
}

// TestEscapes tries the usual ways out of a chroot-like view: /proc/1/root,
// "..", symlinks, mountinfo, and looks for a file that exists only on the host.
func TestEscapes(t *testing.T) {
	skipUnlessSandbox(t)
	cfg := baseConfig(t, "/bin/bash")
	secret := "host-secret-" + strconv.Itoa(os.Getpid())
	// A sibling of the root directory: visible on the host only.
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg.RootDir), secret), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
set -u
cd /../../..; echo "dotdot: $(pwd) $(ls -A | tr '\n' ' ')"
echo "proc1root: $(readlink /proc/1/root) $(ls -A /proc/1/root/ 2>&1 | tr '\n' ' ')"
echo "proc1cwd: $(ls /proc/1/cwd/ 2>&1 | head -c 60)"
echo "proc1fd: $(cat /proc/1/fd/3 2>&1 | head -c 60)"
echo "appfds: $(ls /proc/self/fd | tr '\n' ' ')"
ln -s /../../../.. /tmp/up; echo "symlink: $(ls -A /tmp/up/ | tr '\n' ' ')"
for p in /../S /proc/1/root/../S /proc/self/root/../S /tmp/up/S /proc/1/cwd/../S /dev/fd/../../S; do
	cat "${p/S/$SECRET}" 2>/dev/null && echo "LEAK $p"
done
grep -c . /proc/self/mountinfo
grep -o ' /proc [a-z,]*' /proc/self/mountinfo
grep -E ' (/work|/old_root|/mnt|/tmp/root) ' /proc/self/mountinfo && echo "LEAK mount"
find / -xdev -name "$SECRET" 2>/dev/null | sed 's/^/LEAK find /'
echo done`
	cfg.Args = []string{"/bin/bash", "-c", script}
	cfg.Env = append(cfg.Env, "SECRET="+secret)
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q\n%s", code, err, errOut, out)
	}
	t.Log(out)
	rootList := "bin dev etc etc-marker lib lib64 proc sbin tmp usr work data"
	for _, want := range []string{
		"dotdot: / ",
		"proc1root:  ls: cannot access '/proc/1/root/': Permission denied",
		"proc1cwd: ls: cannot access '/proc/1/cwd/': Permission denied",
		"proc1fd: cat: /proc/1/fd/3: Permission denied",
		"appfds: 0 1 2 3 ", // 3 is ls's own directory
		"\n14\n",           // the root, /usr, /etc, /tmp, /proc, /dev and its 8 submounts
		"\ndone\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, name := range strings.Fields(rootList) {
		if !strings.Contains(out, "dotdot: / ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], name) {
			t.Errorf("'..' at / does not show the view's %s", name)
		}
	}
	if strings.Contains(out, "LEAK") {
		t.Errorf("host path reached:\n%s", out)
	}
}

// TestTmpfsPrivate runs two instances at once: each sees only its own /tmp
// and /dev/shm.
func TestTmpfsPrivate(t *testing.T) {
	skipUnlessSandbox(t)
	script := `for d in /tmp /dev/shm; do test -e $d/mine && exit 10; echo $ID >$d/mine; done
sleep 0.3
for d in /tmp /dev/shm; do test "$(cat $d/mine)" = $ID || exit 11; test "$(ls $d)" = mine || exit 12; done`
	errs := make(chan error, 2)
	for _, id := range []string{"a", "b"} {
		go func() {
			cfg := baseConfig(t, "/bin/bash", "-c", script)
			cfg.Env = append(cfg.Env, "ID="+id)
			_, errOut, code, err := run(t, cfg)
			if err == nil && code != 0 {
				err = fmt.Errorf("instance %s exited %d (%s)", id, code, errOut)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestMultiprocess(t *testing.T) {
	skipUnlessSandbox(t)
	needTools(t, "python3", "sqlite3", "ipcmk", "ipcs", "ipcrm", "seq", "paste")
	for _, tc := range []struct{ name, script, want string }{
		{"pipeline", `seq 1000 | grep 7 | sort -rn | tail -n 3 | paste -sd, | tr , ' '`, "27 17 7"},
		{"bash-jobs-signals", `sleep 5 & p=$!; kill -USR1 $p; wait $p; echo $?`, "138"},
		{"python-multiprocessing", `python3 -c '
import multiprocessing as mp
if __name__ == "__main__":
    with mp.Pool(2) as p: r = sum(p.map(abs, range(-50, 50)))
    v = mp.Value("i", 0); l = mp.Lock()
    def inc(v, l):
        with l: v.value += 1
    ps = [mp.Process(target=inc, args=(v, l)) for _ in range(3)]
    [x.start() for x in ps]; [x.join() for x in ps]
    print(r, v.value)'`, "2500 3"},
		{"python-subprocess-threads-sockets", `python3 -c '
import subprocess, threading, socket, mmap, os
out = subprocess.run(["/bin/echo", "sub"], capture_output=True, text=True).stdout.strip()
res = []
t = threading.Thread(target=lambda: res.append("thr")); t.start(); t.join()
a, b = socket.socketpair(); a.send(b"unix"); got = b.recv(4).decode()
m = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
if os.fork() == 0:
    m[:3] = b"shm"; os._exit(0)
os.wait()
print(out, res[0], got, m[:3].decode())'`, "sub thr unix shm"},
		{"sqlite3", `cd /tmp && sqlite3 db 'create table t(x); insert into t values (1),(2),(39); pragma journal_mode=wal; select sum(x) from t;' | tail -n1`, "42"},
		{"sysv-ipc", `id=$(ipcmk -M 4096 | grep -o '[0-9]*$'); ipcs -m | grep -c "^0x"; ipcrm -m $id; ipcs -m | grep -c "^0x" || true`, "1\n0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.TrimSpace(sh(t, tc.script)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetupErrors(t *testing.T) {
	skipUnlessSandbox(t)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"missing-mount-point", func(c *Config) { c.Mounts = append(c.Mounts, Mount{Kind: "tmpfs", Path: "/nonexistent"}) },
			"sandbox: mount tmpfs on /nonexistent: mount point: no such file or directory"},
		{"missing-bind-source", func(c *Config) {
			c.Mounts = append(c.Mounts, Mount{Kind: "bind", Path: "/data", Source: "/nonexistent-host-dir"})
		}, "sandbox: open bind source /nonexistent-host-dir for /data: no such file or directory"},
		{"bad-tmpfs-option", func(c *Config) { c.Mounts[2].Options = "size=banana" },
			"sandbox: mount tmpfs on /tmp: invalid argument"},
		{"missing-root", func(c *Config) { c.RootDir = "/nonexistent-root" },
			"sandbox: open root directory /nonexistent-root: no such file or directory"},
		{"missing-executable", func(c *Config) { c.Path = "/usr/bin/nonexistent" },
			"sandbox: exec /usr/bin/nonexistent: no such file or directory"},
		{"missing-dir", func(c *Config) { c.Dir = "/nonexistent" },
			"sandbox: chdir /nonexistent: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, "/bin/true")
			tc.mod(&cfg)
			_, _, _, err := run(t, cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Run error %v, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrSetup) {
				t.Errorf("error does not wrap ErrSetup")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no-root", func(c *Config) { c.RootDir = "" }},
		{"two-roots", func(c *Config) { c.ServeRoot = loopbackServer("/") }},
		{"relative-path", func(c *Config) { c.Path = "bin/true" }},
		{"relative-dir", func(c *Config) { c.Dir = "tmp" }},
		{"mount-on-root", func(c *Config) { c.Mounts = []Mount{{Kind: "tmpfs", Path: "/"}} }},
		{"mount-on-proc", func(c *Config) { c.Mounts = []Mount{{Kind: "tmpfs", Path: "/proc"}} }},
		{"unclean-path", func(c *Config) { c.Mounts = []Mount{{Kind: "tmpfs", Path: "/tmp/../etc"}} }},
		{"unknown-kind", func(c *Config) { c.Mounts = []Mount{{Kind: "overlay", Path: "/tmp"}} }},
		{"relative-bind-source", func(c *Config) { c.Mounts = []Mount{{Kind: "bind", Path: "/tmp", Source: "tmp"}} }},
		{"bind-options", func(c *Config) { c.Mounts = []Mount{{Kind: "bind", Path: "/tmp", Source: "/tmp", Options: "size=1m"}} }},
		{"tmpfs-source", func(c *Config) { c.Mounts = []Mount{{Kind: "tmpfs", Path: "/tmp", Source: "/tmp"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Path: "/bin/true", RootDir: "/nonexistent"}
			tc.mod(&cfg)
			if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Run = %v, want ErrConfig", err)
			}
		})
	}
}

// hostMounts returns the host's mount table (mount points and sources).
func hostMounts(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		// Tests of other packages, run in parallel by go test, mount their
		// own filesystems in their t.TempDir (/tmp/TestName…); the sandbox
		// never mounts anything there.
		if len(f) > 5 && !strings.HasPrefix(f[4], filepath.Join(os.TempDir(), "Test")) {
			out = append(out, f[3]+" "+f[4])
		}
	}
	return strings.Join(out, "\n")
}

// findProcess reports host pids whose command line contains marker.
func findProcess(marker string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(marker)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestCleanup: when the application exits, its background descendants are
// killed and every mount is gone; the host's mount table is unchanged.
func TestCleanup(t *testing.T) {
	skipUnlessSandbox(t)
	before := hostMounts(t)
	marker := "nacre-cleanup-marker-" + strconv.Itoa(os.Getpid())
	cfg := baseConfig(t, "/bin/bash", "-c", `(exec -a "$M" sleep 1000) & (setsid bash -c 'exec -a "$M" sleep 1000' &) ; sleep 0.1; echo started`)
	cfg.Env = append(cfg.Env, "M="+marker)
	out, _, code, err := run(t, cfg)
	if err != nil || code != 0 || out != "started\n" {
		t.Fatalf("Run = %d, %v, %q", code, err, out)
	}
	if pids := findProcess(marker); len(pids) > 0 {
		t.Errorf("sandbox processes still running on the host: %v", pids)
	}
	if after := hostMounts(t); after != before {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestParentDeath: if nacre dies, the sandbox dies with it (Pdeathsig).
func TestParentDeath(t *testing.T) {
	skipUnlessSandbox(t)
	marker := "nacre-pdeath-marker-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+marker, helperRootEnv+"="+makeRoot(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start its sandbox: %q", sc.Text())
	}
	for start := time.Now(); len(findProcess(marker)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("marker process not found on the host")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(findProcess(marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sandbox still running after nacre was killed: %v", findProcess(marker))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helperEnv makes the test binary run a sandbox with a marked sleep and print
// "ready" (TestParentDeath); helperRootEnv names the root directory, which
// the test creates and removes.
const (
	helperEnv     = "NACRE_SANDBOX_TEST_HELPER"
	helperRootEnv = "NACRE_SANDBOX_TEST_ROOT"
)

func helperMain(marker string) {
	cfg := rootConfig(os.Getenv(helperRootEnv), "/bin/bash", "-c", `echo ready; exec -a "$M" sleep 1000`)
	cfg.Env = append(cfg.Env, "M="+marker)
	cfg.Stdout = os.Stdout
	code, err := Run(context.Background(), cfg)
	fmt.Fprintln(os.Stderr, code, err)
	os.Exit(1)
}

// TestRlimitAboveHard: a nacre with CAP_SYS_RESOURCE (host root, usually)
// raises the hard limit for the sandbox; without it the setup error says why.
func TestRlimitAboveHard(t *testing.T) {
	skipUnlessSandbox(t)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	want := rl.Max + 1024
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); n < want {
			t.Skipf("fs.nr_open %d leaves no room above the hard limit %d", n, rl.Max)
		}
	}
	cfg := baseConfig(t, "/bin/bash", "-c", "ulimit -Hn")
	cfg.NoFiles = want
	out, _, code, err := run(t, cfg)
	if hasCap(t, unix.CAP_SYS_RESOURCE) {
		if err != nil || code != 0 || out != strconv.FormatUint(want, 10)+"\n" {
			t.Errorf("Run = %d, %v, %q; want hard limit %d", code, err, out, want)
		}
		return
	}
	if err == nil || !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "sandbox: set RLIMIT_NOFILE to") {
		t.Errorf("Run = %d, %v; want a setup error about RLIMIT_NOFILE", code, err)
	}
}

// hasCap reports whether this process has capability c in its effective set.
func hasCap(t *testing.T, c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<c) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}
