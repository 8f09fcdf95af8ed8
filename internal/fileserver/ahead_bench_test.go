package fileserver

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// BenchmarkPythonColdStart runs `python3 -c pass` once in a freshly mounted
// view per iteration (FUSE page cache cold, host page cache warm), with the
// interpreter and its libraries trusted through a chunk index, as nacre run
// serves them; with and without verify-ahead (ahead.go). Mounting is not
// timed. Compare with BenchmarkPythonPass/native.
func BenchmarkPythonColdStart(b *testing.B) {
	needFUSE(b)
	out, err := exec.Command("ldd", "/usr/bin/python3").Output()
	if err != nil {
		b.Skipf("no python3 or ldd: %v", err)
	}
	files := map[string][32]byte{}
	add := func(p string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return
		}
		data, err := os.ReadFile(real)
		if err == nil {
			files[real] = sha256.Sum256(data)
		}
	}
	add("/usr/bin/python3")
	for _, f := range bytes.Fields(out) {
		if bytes.HasPrefix(f, []byte("/")) {
			add(string(f))
		}
	}
	var ix bytes.Buffer
	if err := trustedfs.BuildIndex(&ix, files, nil); err != nil {
		b.Fatal(err)
	}
	ip := filepath.Join(b.TempDir(), "index")
	os.WriteFile(ip, ix.Bytes(), 0o644)
	for _, ahead := range []bool{true, false} {
		name := "ahead"
		if !ahead {
			name = "noahead"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				index, err := trustedfs.OpenIndex(ip, sha256.Sum256(ix.Bytes()))
				if err != nil {
					b.Fatal(err)
				}
				set := trustedfs.NewSet(files)
				set.AttachIndex(index)
				srv, err := New(Config{
					Mounts:  []Mount{{Path: "/", Host: "/"}},
					Trusted: set,
					Policy:  AllowAllButLog,
					Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				})
				if err != nil {
					b.Fatal(err)
				}
				srv.noAhead = !ahead
				mnt := b.TempDir()
				fsrv, err := srv.Mount(mnt)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if out, err := exec.Command("chroot", mnt, "/usr/bin/python3", "-c", "pass").CombinedOutput(); err != nil {
					b.Fatalf("%v %s", err, out)
				}
				b.StopTimer()
				srv.aheads.wait()
				fsrv.Unmount()
				srv.Close()
				b.StartTimer()
			}
		})
	}
}
