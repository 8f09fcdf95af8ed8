package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFUSERootAndDeviceConfigErrors(t *testing.T) {
	serve := loopbackServer("/nonexistent")
	for _, tc := range []struct {
		name   string
		mounts []Mount
	}{
		{"root-not-first", []Mount{{Kind: MountTmpfs, Path: "/tmp"}, {Kind: MountFUSE, Path: "/", Serve: serve}}},
		{"root-not-fuse", []Mount{{Kind: MountTmpfs, Path: "/"}}},
		{"root-without-serve", []Mount{{Kind: MountFUSE, Path: "/"}}},
		{"bind-relative", []Mount{{Kind: MountFUSE, Path: "/", Serve: serve, Binds: []string{"usr"}}}},
		{"bind-dev", []Mount{{Kind: MountFUSE, Path: "/", Serve: serve, Binds: []string{"/dev/x"}}}},
		{"bind-proc", []Mount{{Kind: MountFUSE, Path: "/", Serve: serve, Binds: []string{"/proc"}}}},
		{"binds-not-root", []Mount{{Kind: MountFUSE, Path: "/x", Serve: serve, Binds: []string{"/usr"}}}},
		{"device-outside-dev", []Mount{{Kind: MountDevice, Path: "/kvm", Source: "/dev/kvm"}}},
		{"device-over-pts", []Mount{{Kind: MountDevice, Path: "/dev/pts/0", Source: "/dev/null"}}},
		{"device-attestation", []Mount{{Kind: MountDevice, Path: "/dev/attestation", Source: "/dev/null"}}},
		{"device-relative-source", []Mount{{Kind: MountDevice, Path: "/dev/x", Source: "dev/null"}}},
		{"tmpfs-under-dev", []Mount{{Kind: MountTmpfs, Path: "/dev/x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Path: "/bin/true", RootDir: "/nonexistent", Mounts: tc.mounts}
			if err := cfg.validate(); !errors.Is(err, ErrConfig) {
				t.Errorf("validate = %v, want ErrConfig", err)
			}
		})
	}
	ok := Config{Path: "/bin/true", RootDir: "/nonexistent", Mounts: []Mount{
		{Kind: MountFUSE, Path: "/", Serve: serve, Name: "pf", Binds: []string{"/usr", "/lib64"}},
		{Kind: MountDevice, Path: "/dev/dri/card0", Source: "/dev/null"},
		{Kind: MountDevice, Path: "/dev/zero", Source: "/dev/zero"},
	}}
	if err := ok.validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// A FUSE root (here a loopback of a host directory, standing in for an
// encrypted root) becomes "/"; the RootDir root is not the view, only its
// Binds are; host devices appear where device mounts put them.
func TestFUSERootWithBindsAndDevices(t *testing.T) {
	skipUnlessSandbox(t)
	skipUnlessFUSE(t)
	cfg := baseConfig(t, "/bin/bash", "-c", `cat /view/marker /enc-marker; ls /; echo written >/new;
head -c 3 /dev/hostzero | od -An -tx1; echo x >/dev/sub/null2 && echo null2-ok; grep -c fuse.nacre-pf /proc/self/mountinfo`)
	view := cfg.RootDir
	if err := os.MkdirAll(filepath.Join(view, "view"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(view, "view", "marker"), []byte("from view\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	enc := t.TempDir()
	os.Chmod(enc, 0o777)
	for _, d := range []string{"proc", "dev", "usr", "etc", "tmp", "view"} {
		if err := os.MkdirAll(filepath.Join(enc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib", "lib64"} {
		os.Symlink("usr/"+l, filepath.Join(enc, l))
	}
	os.WriteFile(filepath.Join(enc, "enc-marker"), []byte("from root\n"), 0o644)
	cfg.Mounts = append([]Mount{{Kind: MountFUSE, Path: "/", Serve: loopbackServer(enc), Name: "pf", Binds: []string{"/view"}}}, cfg.Mounts...)
	cfg.Mounts = append(cfg.Mounts,
		Mount{Kind: MountDevice, Path: "/dev/hostzero", Source: "/dev/zero"},
		Mount{Kind: MountDevice, Path: "/dev/sub/null2", Source: "/dev/null"})
	out, errOut, code, err := run(t, cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %q", code, err, errOut)
	}
	want := "from view\nfrom root\nbin\ndev\nenc-marker\netc\nlib\nlib64\nproc\ntmp\nusr\nview\n 00 00 00\nnull2-ok\n1\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if b, err := os.ReadFile(filepath.Join(enc, "new")); err != nil || string(b) != "written\n" {
		t.Errorf("write to the FUSE root: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(view, "new")); err == nil {
		t.Errorf("the write went to the RootDir root")
	}
}

func TestDeviceSourceMustBeADevice(t *testing.T) {
	skipUnlessSandbox(t)
	cfg := baseConfig(t, "/bin/true")
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	cfg.Mounts = append(cfg.Mounts, Mount{Kind: MountDevice, Path: "/dev/notadev", Source: f})
	_, _, _, err := run(t, cfg)
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "not a character or block device") {
		t.Fatalf("err = %v", err)
	}
}
