package sandbox

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rootlessTests are re-run as an unprivileged user by TestRootless.
const rootlessTests = "^(TestArgvEnvDirIDs|TestExitStatus|TestSignalForwarding|TestProcIsolation|TestDevices|" +
	"TestHostnameAndRlimits|TestEscapes|TestTmpfsPrivate|TestMultiprocess|TestSetupErrors|TestCleanup|" +
	"TestParentDeath|TestRlimitAboveHard|TestSeccompInSandbox|TestDisallowSubprocesses|TestLogDenied|TestLogDeniedStage3|TestFUSERoot|TestTerminalSignals|TestTerminalJobControl|" +
	"TestFUSERootWithBindsAndDevices|TestDeviceSourceMustBeADevice)$"

// TestRootless runs the sandbox tests again as a throwaway unprivileged user
// (created with useradd, entered with setpriv). /dev/fuse is made 0666 (the
// udev default) for the duration so the FUSE test can run, then restored.
func TestRootless(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create the throwaway user; as a non-root user the other tests already run rootless")
	}
	skipUnlessSandbox(t)
	for _, tool := range []string{"useradd", "userdel", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if testing.Short() {
		t.Skip("slow: re-runs the sandbox tests")
	}
	user := "nacre-sbx-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		t.Skipf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", user).Run() })

	// The test binary must be readable by the user.
	dir, err := os.MkdirTemp("", "nacre-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "sandbox.test")
	copyFile(t, os.Args[0], bin)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	if st, err := os.Stat("/dev/fuse"); err == nil && st.Mode().Perm() != 0o666 {
		if err := os.Chmod("/dev/fuse", 0o666); err == nil {
			t.Cleanup(func() { os.Chmod("/dev/fuse", st.Mode().Perm()) })
		}
	}

	cmd := exec.Command("setpriv", "--reuid="+user, "--regid="+user, "--clear-groups", "--",
		bin, "-test.run="+rootlessTests, "-test.count=1", "-test.v")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp"}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rootless run failed: %v\n%s", err, out)
	}
	for _, name := range strings.Split(strings.Trim(rootlessTests, "^()$"), "|") {
		switch {
		case strings.Contains(string(out), "--- PASS: "+name+" "):
		case strings.Contains(string(out), "--- SKIP: "+name+" "):
			t.Logf("%s skipped rootless", name)
		default:
			t.Errorf("%s did not pass rootless", name)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
