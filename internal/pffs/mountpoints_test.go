package pffs

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/keys"
)

func TestSetMountPointsRejectsBadPaths(t *testing.T) {
	fsys, err := New(Config{HostDir: t.TempDir(), Keys: keys.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "rel", "/a/../b", "/a/"} {
		if err := fsys.SetMountPoints([]string{p}); err == nil {
			t.Errorf("SetMountPoints(%q) accepted", p)
		}
	}
}

// hostTree lists every path below dir, for "nothing was written" checks.
func hostTree(t *testing.T, dir string) string {
	t.Helper()
	var ps []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		ps = append(ps, strings.TrimPrefix(p, dir))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ps)
	return strings.Join(ps, "\n")
}

// An encrypted root shows its mount points as read-only directories next
// to (or inside) the host's own, and never creates them on the host.
func TestMountPointsAreVirtual(t *testing.T) {
	skipUnlessRoot(t)
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "usr", "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "proc"), nil, 0o644); err != nil { // a file where a mount point goes
		t.Fatal(err)
	}
	ks := keys.New()
	ks.Set("default", key1)
	fsys, err := New(Config{HostDir: host, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.SetMountPoints([]string{"/proc", "/dev", "/usr/bin", "/lib64", "/a/b/c"}); err != nil {
		t.Fatal(err)
	}
	before := hostTree(t, host)
	dir := t.TempDir()
	srv, err := mountDev(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		srv.Wait()
	})

	for _, p := range []string{"proc", "dev", "usr", "usr/bin", "usr/real", "lib64", "a", "a/b", "a/b/c"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, p), &st); err != nil {
			t.Errorf("stat /%s: %v", p, err)
		} else if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			t.Errorf("/%s: mode %o, want a directory", p, st.Mode)
		}
	}
	names := func(p string) string {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			t.Fatalf("open /%s: %v", p, err)
		}
		defer f.Close()
		n, err := f.Readdirnames(-1)
		if err != nil {
			t.Fatalf("readdir /%s: %v", p, err)
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	if got := names(""); got != "a,dev,lib64,proc,usr" {
		t.Errorf("readdir / = %s", got)
	}
	if got := names("usr"); got != "bin,real" {
		t.Errorf("readdir /usr = %s", got)
	}
	if got := names("a/b"); got != "c" {
		t.Errorf("readdir /a/b = %s", got)
	}
	if err := unix.Mkdir(filepath.Join(dir, "lib64", "x"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir in a virtual directory: %v, want EROFS", err)
	}
	if fd, err := unix.Open(filepath.Join(dir, "a", "f"), unix.O_CREAT|unix.O_WRONLY, 0o644); !errors.Is(err, syscall.EROFS) {
		if err == nil {
			unix.Close(fd)
		}
		t.Errorf("create in a virtual directory: %v, want EROFS", err)
	}
	if got := hostTree(t, host); got != before {
		t.Errorf("host directory changed:\n%s\nwant\n%s", got, before)
	}
	// The rest of the root is the encrypted directory as usual.
	if err := unix.Mkdir(filepath.Join(dir, "usr", "real", "new"), 0o755); err != nil {
		t.Errorf("mkdir in a host directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(host, "usr", "real", "new")); err != nil {
		t.Errorf("host directory not created: %v", err)
	}
}
