package shield

import (
	"bytes"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/runtimedir"
	"github.com/nacre-tee/nacre/internal/sandbox"
)

// An encrypted fs.root is the first sandbox mount, at "/", served by pffs;
// the chroot mounts stay with the file server and are bound onto it.
func TestEncryptedRootView(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, d := range []string{"rt", "bin", "libx", "enc_root", "data"} {
		os.MkdirAll(d, 0o755)
	}
	interp := runtimedir.Interpreter()
	if interp != "" {
		os.WriteFile(filepath.Join("rt", path.Base(interp)), []byte("loader"), 0o644)
	}
	l := load(t, dir, `
libos.entrypoint = "/usr/bin/app"
fs.root = { type = "encrypted", uri = "file:enc_root", key_name = "rk" }
fs.insecure__keys.rk = "00112233445566778899aabbccddeeff"
fs.mounts = [
  { path = "/lib", uri = "file:rt" },
  { path = "/usr/bin", uri = "file:bin" },
  { path = "/usr/bin/sub", uri = "file:libx" },
  { type = "tmpfs", path = "/tmp" },
  { type = "encrypted", path = "/data", uri = "file:data" },
]
sgx.trusted_files = ["file:rt/"]
`)
	fc, mounts, err := l.fileView(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 3 || mounts[0].Path != "/" || mounts[0].Kind != sandbox.MountFUSE || mounts[0].Name != "pf" {
		t.Fatalf("sandbox mounts = %+v", mounts)
	}
	wantBinds := []string{"/lib", "/usr/bin"}
	if interp != "" {
		wantBinds = append(wantBinds, path.Dir(interp))
		if !slices.Contains(fc.MountPoints, path.Dir(interp)) {
			t.Errorf("file server mount points %v lack the interpreter's directory", fc.MountPoints)
		}
	}
	if !slices.Equal(mounts[0].Binds, wantBinds) {
		t.Errorf("binds = %v, want %v", mounts[0].Binds, wantBinds)
	}
	for _, m := range fc.Mounts {
		if m.Path == "/" {
			t.Errorf("the file server still serves a root: %+v", fc.Mounts)
		}
	}
	if len(l.encrypted) != 2 || l.encrypted[0].Path != "/" || l.encrypted[0].KeyName != "rk" || l.encrypted[0].host != filepath.Join(dir, "enc_root") {
		t.Errorf("encrypted = %+v", l.encrypted)
	}
	mps := rootMountPoints(mounts)
	for _, p := range append(wantBinds, "/proc", "/dev", "/tmp", "/data") {
		if !slices.Contains(mps, p) {
			t.Errorf("root mount points %v lack %s", mps, p)
		}
	}
	if slices.Contains(mps, "/dev/attestation") {
		t.Errorf("root mount points %v include a /dev path", mps)
	}
}

func TestOutermost(t *testing.T) {
	got := outermost([]string{"/usr/lib", "/lib", "/usr", "/lib", "/lib64", "/usr/bin"})
	if want := []string{"/lib", "/usr", "/lib64"}; !slices.Equal(got, want) {
		t.Errorf("outermost = %v, want %v", got, want)
	}
}

// Gramine's devices: a chroot mount of a dev: URI, allowed by a dev: entry
// of sgx.allowed_files.
func TestDeviceMounts(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := &Loaded{Path: "app.manifest"}
	devs := []manifest.Mount{
		{Type: manifest.MountChroot, Path: "/dev/host-zero", URI: "dev:/dev/zero"},
		{Type: manifest.MountChroot, Path: "/dev/dri/card0", URI: "dev:/dev/dri/card0"},
		{Type: manifest.MountChroot, Path: "/dev/kvm", URI: "dev:/dev/kvm"}, // not allowed
	}
	allowed := []string{devHostPath("/dev/zero"), devHostPath("/dev/dri"), devHostPath("/dev/sgx_enclave")}
	mounts, err := l.deviceMounts(devs, allowed, log)
	if err != nil {
		t.Fatal(err)
	}
	want := []sandbox.Mount{
		{Kind: sandbox.MountDevice, Path: "/dev/host-zero", Source: "/dev/zero"},
		{Kind: sandbox.MountDevice, Path: "/dev/dri/card0", Source: "/dev/dri/card0"},
	}
	if len(mounts) != len(want) {
		t.Fatalf("mounts = %+v", mounts)
	}
	for i := range want {
		if mounts[i].Kind != want[i].Kind || mounts[i].Path != want[i].Path || mounts[i].Source != want[i].Source {
			t.Errorf("mount %d = %+v, want %+v", i, mounts[i], want[i])
		}
	}
	mustLog := func(s string) {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, logs.String())
		}
	}
	mustLog(`level=WARN msg="device mount left out`)
	mustLog(`uri=dev:/dev/kvm`)
	mustLog(`uri=dev:/dev/sgx_enclave`) // allowed but not mounted

	_, err = l.deviceMounts([]manifest.Mount{{Type: manifest.MountChroot, Path: "/kvm", URI: "dev:/dev/kvm"}}, []string{"/dev/kvm"}, log)
	if err == nil || !strings.Contains(err.Error(), "under /dev") {
		t.Errorf("device outside /dev: err = %v", err)
	}
	if got := devHostPath("tty"); got != "/dev/tty" {
		t.Errorf("devHostPath(tty) = %s", got)
	}
}
