package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// loopbackServer serves dir through go-fuse's loopback filesystem, the way
// the real fileserver is plugged in: on a dup of the fd, already serving.
func loopbackServer(dir string) func(*os.File) (*fuse.Server, error) {
	return func(dev *os.File) (*fuse.Server, error) {
		root, err := fs.NewLoopbackRoot(dir)
		if err != nil {
			return nil, err
		}
		fd, err := unix.FcntlInt(dev.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, err
		}
		opts := &fuse.MountOptions{FsName: "nacre-test", Name: "nacre"}
		srv, err := fuse.NewServer(fs.NewNodeFS(root, &fs.Options{MountOptions: *opts}), fmt.Sprintf("/dev/fd/%d", fd), opts)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		go srv.Serve()
		return srv, nil
	}
}

// skipUnlessFUSE skips when this user cannot open /dev/fuse.
func skipUnlessFUSE(t testing.TB) {
	t.Helper()
	if err := CheckHost(true); err != nil {
		t.Skip(err)
	}
}

func TestFUSERoot(t *testing.T) {
	skipUnlessSandbox(t)
	skipUnlessFUSE(t)
	cfg := baseConfig(t, "/bin/bash", "-c", "cat /etc-marker; grep -c ' / / ' /proc/self/mountinfo; grep ' / / ' /proc/self/mountinfo; id -u; ls /dev")
	dir := cfg.RootDir
	cfg.RootDir = ""
	cfg.ServeRoot = loopbackServer(dir)
	cfg.UID = 1000
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	t.Log(out)
	if !strings.HasPrefix(out, "root file\n1\n") || !strings.Contains(out, "fuse.nacre") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestFUSEServeError(t *testing.T) {
	skipUnlessSandbox(t)
	skipUnlessFUSE(t)
	cfg := baseConfig(t, "/bin/true")
	cfg.RootDir = ""
	cfg.ServeRoot = func(*os.File) (*fuse.Server, error) { return nil, errors.New("boom") }
	_, _, _, err := run(t, cfg)
	if err == nil || err.Error() != "sandbox: serve FUSE root: boom" {
		t.Fatalf("Run error %v, want the ServeRoot failure", err)
	}
}

// TestFUSEMounts: extra FUSE filesystems served by nacre, one inside the view
// and one under the sandbox's own /dev (where /dev/attestation goes).
func TestFUSEMounts(t *testing.T) {
	skipUnlessSandbox(t)
	skipUnlessFUSE(t)
	data, attest := t.TempDir(), t.TempDir()
	os.WriteFile(data+"/in", []byte("from data\n"), 0o644)
	os.WriteFile(attest+"/attestation_type", []byte("sim\n"), 0o644)
	cfg := baseConfig(t, "/bin/sh", "-c", "cat /data/in /dev/attestation/attestation_type; grep -c nacre-extra /proc/self/mountinfo")
	if err := os.MkdirAll(cfg.RootDir+"/data", 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Mounts = append(cfg.Mounts,
		Mount{Kind: MountFUSE, Path: "/data", Serve: loopbackServer(data), Name: "extra"},
		Mount{Kind: MountFUSE, Path: "/dev/attestation", Serve: loopbackServer(attest), Name: "extra"},
	)
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	if out != "from data\nsim\n2\n" {
		t.Errorf("output %q, want both FUSE mounts readable", out)
	}
}

func TestFUSEMountConfig(t *testing.T) {
	bad := []Mount{
		{Kind: MountFUSE, Path: "/data"},                                // no Serve
		{Kind: MountFUSE, Path: "/dev/a/b", Serve: loopbackServer("/")}, // too deep under /dev
		{Kind: MountTmpfs, Path: "/dev/x"},                              // non-FUSE under /dev
	}
	for _, m := range bad {
		if err := m.validate(); err == nil {
			t.Errorf("mount %+v accepted", m)
		}
	}
}

func TestDisableASLR(t *testing.T) {
	skipUnlessSandbox(t)
	for _, disable := range []bool{false, true} {
		cfg := baseConfig(t, "/bin/cat", "/proc/self/personality")
		cfg.DisableASLR = disable
		out, errOut, code, err := run(t, cfg)
		if err != nil || code != 0 {
			t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
		}
		if got, want := strings.TrimSpace(out) == "00040000", disable; got != want {
			t.Errorf("DisableASLR=%t: personality %q", disable, out)
		}
	}
}

// TestFUSERootServedLast: a FUSE root that nacre answers only after a mount
// under /dev was served (as the shield's root waits for its trusted set
// while /dev/attestation is served) still starts, with both mounts in
// place. Before PID 1 staged /dev meanwhile, this order deadlocked: it
// waited for the root before mounting anything else.
func TestFUSERootServedLast(t *testing.T) {
	skipUnlessSandbox(t)
	skipUnlessFUSE(t)
	attest := t.TempDir()
	os.WriteFile(attest+"/attestation_type", []byte("sim\n"), 0o644)
	cfg := baseConfig(t, "/bin/sh", "-c", "cat /etc-marker /dev/attestation/attestation_type")
	dir := cfg.RootDir
	cfg.RootDir = ""
	devServed := make(chan struct{})
	serveDev := loopbackServer(attest)
	cfg.Mounts = append(cfg.Mounts, Mount{Kind: MountFUSE, Path: "/dev/attestation", Name: "attestation",
		Serve: func(f *os.File) (*fuse.Server, error) {
			defer close(devServed)
			return serveDev(f)
		}})
	serveRoot := loopbackServer(dir)
	var order string
	cfg.ServeRoot = func(f *os.File) (*fuse.Server, error) {
		// A guard against hanging the test run, not a timed assertion:
		// the order is what is checked.
		select {
		case <-devServed:
			order = "dev first"
		case <-time.After(20 * time.Second):
			order = "root first"
		}
		return serveRoot(f)
	}
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	if order != "dev first" || out != "root file\nsim\n" {
		t.Errorf("order %q, output %q", order, out)
	}
}
