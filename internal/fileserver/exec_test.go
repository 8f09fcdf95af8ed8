package fileserver

import (
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// TestExecInView runs the host's /usr/bin/true chrooted into a Strict view
// of the host's / in which only the binary, its ELF interpreter, libc and
// ld.so.cache are trusted: exec, the interpreter's mmaps and no_open mode
// work end to end, and nothing else is needed. It goes through chroot(8)
// because this process serves the view (see the package doc's traps).
func TestExecInView(t *testing.T) {
	needFUSE(t)
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("no chroot(8)")
	}
	set := map[string][32]byte{}
	for _, p := range execFiles {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Skipf("no %s on this host", p)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		set[real] = sha256.Sum256(data)
	}
	srv, err := New(Config{
		Mounts:  []Mount{{Path: "/", Host: "/"}},
		Trusted: trustedfs.NewSet(set),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	fsrv, err := srv.Mount(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { fsrv.Unmount(); srv.Close() }()
	for range 3 {
		if out, err := exec.Command(chroot, mnt, "/usr/bin/true").CombinedOutput(); err != nil {
			t.Fatalf("true in the view: %v %s", err, out)
		}
	}
	// An untrusted program is refused under Strict.
	if out, err := exec.Command(chroot, mnt, "/usr/bin/env").CombinedOutput(); err == nil {
		t.Errorf("untrusted /usr/bin/env ran: %s", out)
	}
}
