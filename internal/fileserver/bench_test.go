package fileserver

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// hostView mounts a view of the host's / in which the files of the given
// host paths (symlinks resolved) are trusted and everything else is allowed
// with AllowAllButLog, so that programs can run chrooted into it.
func hostView(b *testing.B, trusted ...string) string { return hostViewT(b, trusted...) }

func hostViewT(b testing.TB, trusted ...string) string {
	needFUSE(b)
	set := map[string][32]byte{}
	for _, p := range trusted {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			b.Skipf("no %s on this host: %v", p, err)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			b.Fatal(err)
		}
		set[real] = sha256.Sum256(data)
	}
	srv, err := New(Config{
		Mounts:  []Mount{{Path: "/", Host: "/"}},
		Trusted: trustedfs.NewSet(set),
		Policy:  AllowAllButLog,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	mnt := b.TempDir()
	fsrv, err := srv.Mount(mnt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fsrv.Unmount(); srv.Close() })
	return mnt
}

var execFiles = []string{"/usr/bin/true", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache"}

// loop runs `cmd` b.N times from one shell, chrooted into root unless root
// is "". The shell is started through the host's chroot(8): this process
// serves the view, and a Go child of it must not exec from the view (the
// parent waits for the exec inside fork, see the package doc).
func loop(b *testing.B, root, cmd string) {
	script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s || exit 1; i=$((i+1)); done", b.N, cmd)
	argv := []string{"/bin/sh", "-c", script}
	if root != "" {
		argv = append([]string{"chroot", root}, argv...)
	}
	b.ResetTimer()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		b.Fatalf("%v: %v %s", argv, err, out)
	}
}

// BenchmarkForkExec runs /bin/true from a shell loop natively and chrooted
// into the view (binary, ELF interpreter and libc verified); the prototype's
// B1. Compare the ns/op of the two: the product target is view ≤ 1.10 ×
// native.
func BenchmarkForkExec(b *testing.B) {
	b.Run("native", func(b *testing.B) { loop(b, "", "/bin/true") })
	b.Run("view", func(b *testing.B) {
		mnt := hostView(b, execFiles...)
		loop(b, mnt, "/bin/true")
	})
}

// BenchmarkPythonPass runs `python3 -c pass` natively and in the view
// (interpreter and libc verified, the rest allowed by policy), after one
// warm-up run in the view; the prototype's B2 "warm".
func BenchmarkPythonPass(b *testing.B) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		b.Skip("no python3")
	}
	b.Run("native", func(b *testing.B) { loop(b, "", "/usr/bin/python3 -c pass") })
	b.Run("view", func(b *testing.B) {
		mnt := hostView(b, append(execFiles, "/usr/bin/python3")...)
		if out, err := exec.Command("chroot", mnt, "/usr/bin/python3", "-c", "pass").CombinedOutput(); err != nil {
			b.Fatalf("warm-up: %v %s", err, out)
		}
		loop(b, mnt, "/usr/bin/python3 -c pass")
	})
}

// BenchmarkTrustedFirstRead reads a 64 MiB trusted file through FUSE after
// dropping the FUSE page cache each time (every byte verified), and then
// from the FUSE page cache.
func BenchmarkTrustedFirstRead(b *testing.B) {
	needFUSE(b)
	dir := b.TempDir()
	data := randBytes(64<<20, 3)
	p := filepath.Join(dir, "big")
	os.WriteFile(p, data, 0o644)
	srv, err := New(Config{
		Mounts:             []Mount{{Path: "/", Host: dir}},
		Trusted:            trustedfs.NewSet(map[string][32]byte{p: sha256.Sum256(data)}),
		Log:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		DropHostCacheAbove: -1, // keep the host cache warm between runs
	})
	if err != nil {
		b.Fatal(err)
	}
	mnt := b.TempDir()
	fsrv, err := srv.Mount(mnt)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { fsrv.Unmount(); srv.Close() }()
	f, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	readAll := func() {
		for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
			if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
	readAll() // whole-file hash at first open is not part of the measurement
	b.Run("verified", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
			readAll()
		}
	})
	b.Run("cached", func(b *testing.B) {
		readAll()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			readAll()
		}
	})
}
