package fileserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// logSink records log records for assertions.
type logSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

// count returns the records at level whose message contains msg and that
// have an attribute "host" equal to host.
func (l *logSink) count(level slog.Level, msg, host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level != level || !strings.Contains(r.Message, msg) {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "host" && a.Value.String() == host {
				n++
			}
			return true
		})
	}
	return n
}

// fixture is a host tree, a view of it and the mount point.
type fixture struct {
	host, outside, mnt string
	content            map[string][]byte // host path → content of files created
	log                *logSink
	srv                *Server
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func needFUSE(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// newFixture creates the host tree:
//
//	host/usr/bin/tool      trusted, executable
//	host/usr/lib/big.bin   trusted, 4 MiB
//	host/usr/lib/libz.so.1 → libz.so.1.2 (symlink, both trusted by the link's path)
//	host/usr/esc           → ../../outside (relative symlink out of the mount)
//	host/etc/unlisted.conf neither trusted nor allowed
//	host/data/             allowed directory with existing.txt
//	outside/secret         not in any mount
//
// then lets edit adjust the config and mounts the view.
func newFixture(t *testing.T, edit func(f *fixture, c *Config)) *fixture {
	needFUSE(t)
	root := t.TempDir()
	f := &fixture{host: filepath.Join(root, "host"), outside: filepath.Join(root, "outside"), mnt: filepath.Join(t.TempDir(), "mnt"), content: map[string][]byte{}, log: &logSink{}}
	for _, d := range []string{"usr/bin", "usr/lib", "etc", "data/sub"} {
		os.MkdirAll(filepath.Join(f.host, d), 0o755)
	}
	os.MkdirAll(f.outside, 0o755)
	os.MkdirAll(f.mnt, 0o755)
	put := func(p string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		f.content[p] = b
	}
	put(filepath.Join(f.host, "usr/bin/tool"), []byte("#!/bin/sh\necho tool\n"), 0o755)
	put(filepath.Join(f.host, "usr/lib/big.bin"), randBytes(4<<20, 1), 0o600)
	put(filepath.Join(f.host, "usr/lib/libz.so.1.2"), []byte("libz"), 0o644)
	os.Symlink("libz.so.1.2", filepath.Join(f.host, "usr/lib/libz.so.1"))
	os.Symlink("../../outside", filepath.Join(f.host, "usr/esc"))
	put(filepath.Join(f.host, "etc/unlisted.conf"), []byte("unlisted"), 0o644)
	put(filepath.Join(f.host, "data/existing.txt"), []byte("existing"), 0o644)
	put(filepath.Join(f.host, "data/sub/f"), []byte("inside"), 0o644)
	put(filepath.Join(f.outside, "secret"), []byte("secret"), 0o644)
	put(filepath.Join(f.outside, "f"), []byte("outside"), 0o644)

	trusted := map[string][32]byte{}
	for _, p := range []string{"usr/bin/tool", "usr/lib/big.bin", "usr/lib/libz.so.1.2"} {
		trusted[filepath.Join(f.host, p)] = sha256.Sum256(f.content[filepath.Join(f.host, p)])
	}
	trusted[filepath.Join(f.host, "usr/lib/libz.so.1")] = sha256.Sum256([]byte("libz"))
	cfg := Config{
		Mounts:      []Mount{{Path: "/", Host: f.host}},
		MountPoints: []string{"/proc", "/dev", "/tmp/deep/point"},
		Trusted:     trustedfs.NewSet(trusted),
		Allowed:     []string{filepath.Join(f.host, "data")},
		Log:         slog.New(f.log),
	}
	if edit != nil {
		edit(f, &cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	fsrv, err := srv.Mount(f.mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsrv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Close()
	})
	return f
}

func (f *fixture) m(p string) string { return filepath.Join(f.mnt, p) }
func (f *fixture) h(p string) string { return filepath.Join(f.host, p) }

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func TestTrustedRead(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"usr/bin/tool", "usr/lib/big.bin", "usr/lib/libz.so.1.2"} {
		got, err := os.ReadFile(f.m(p))
		if err != nil || !bytes.Equal(got, f.content[f.h(p)]) {
			t.Errorf("read %s: %d bytes, err %v", p, len(got), err)
		}
	}
	// A trusted path that is a symlink on the host is the verified file.
	if got, err := os.ReadFile(f.m("usr/lib/libz.so.1")); err != nil || string(got) != "libz" {
		t.Errorf("trusted symlink path: %q, %v", got, err)
	}
	if fi, err := os.Lstat(f.m("usr/lib/libz.so.1")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("trusted symlink path: %v, %v", fi, err)
	}
	st, err := os.Stat(f.m("usr/bin/tool"))
	if err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("tool mode %v, %v", st.Mode(), err)
	}
	st, err = os.Stat(f.m("usr/lib/big.bin"))
	if err != nil || st.Mode().Perm() != 0o444 || st.Size() != 4<<20 {
		t.Errorf("big.bin: %v, %v", st, err)
	}
	if f.log.count(slog.LevelDebug, "fileserver: file", f.h("usr/lib/big.bin")) == 0 {
		t.Error("no decision logged for big.bin")
	}
}

func TestTrustedWriteDenied(t *testing.T) {
	f := newFixture(t, nil)
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_APPEND | os.O_WRONLY} {
		_, err := os.OpenFile(f.m("usr/bin/tool"), flag, 0)
		wantErrno(t, "write open of a trusted file", err, syscall.EACCES)
	}
	wantErrno(t, "truncate", os.Truncate(f.m("usr/bin/tool"), 0), syscall.EACCES)
	// The kernel refuses changes to inodes with an invalid owner with
	// EOVERFLOW before it checks permissions (see the package doc).
	wantErrno(t, "unlink", os.Remove(f.m("usr/bin/tool")), syscall.EOVERFLOW)
	wantErrno(t, "rename", os.Rename(f.m("usr/bin/tool"), f.m("usr/bin/tool2")), syscall.EOVERFLOW)
	wantErrno(t, "create in a read-only dir", os.WriteFile(f.m("usr/bin/new"), nil, 0o644), syscall.EACCES)
	wantErrno(t, "chmod", os.Chmod(f.m("usr/bin/tool"), 0o777), syscall.EOVERFLOW)
	// Replacing a trusted file from an allowed dir is refused as well.
	wantErrno(t, "rename onto trusted", os.Rename(f.m("data/existing.txt"), f.m("usr/bin/tool")), syscall.EOVERFLOW)
	if got, _ := os.ReadFile(f.h("usr/bin/tool")); !bytes.Equal(got, f.content[f.h("usr/bin/tool")]) {
		t.Error("host file changed")
	}
}

func TestUnlistedStrict(t *testing.T) {
	f := newFixture(t, nil)
	_, err := os.ReadFile(f.m("etc/unlisted.conf"))
	wantErrno(t, "read unlisted", err, syscall.EACCES)
	_, err = os.OpenFile(f.m("etc/unlisted.conf"), os.O_RDWR, 0)
	wantErrno(t, "open unlisted rw", err, syscall.EACCES)
	// Documented choice: stat and readdir still show it.
	if st, err := os.Stat(f.m("etc/unlisted.conf")); err != nil || st.Mode().Perm() != 0 {
		t.Errorf("stat unlisted: %v, %v", st, err)
	}
	names, _ := os.ReadDir(f.m("etc"))
	if len(names) != 1 || names[0].Name() != "unlisted.conf" {
		t.Errorf("readdir etc: %v", names)
	}
	if f.log.count(slog.LevelWarn, "allow_all_but_log", f.h("etc/unlisted.conf")) != 0 {
		t.Error("strict policy warned")
	}
}

func TestAllowAllButLog(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) { c.Policy = AllowAllButLog })
	p := f.m("etc/unlisted.conf")
	for i := 0; i < 3; i++ {
		if got, err := os.ReadFile(p); err != nil || string(got) != "unlisted" {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	if err := os.WriteFile(p, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.h("etc/unlisted.conf")); string(got) != "changed" {
		t.Errorf("host content %q", got)
	}
	if n := f.log.count(slog.LevelWarn, "allow_all_but_log", f.h("etc/unlisted.conf")); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	// New files anywhere; trusted files stay read-only.
	if err := os.WriteFile(f.m("etc/new"), []byte("n"), 0o644); err != nil {
		t.Errorf("create under allow_all_but_log: %v", err)
	}
	_, err := os.OpenFile(f.m("usr/bin/tool"), os.O_WRONLY, 0)
	wantErrno(t, "write open of trusted under allow_all_but_log", err, syscall.EACCES)
}

func TestTamperedTrustedFile(t *testing.T) {
	f := newFixture(t, nil)
	big := f.h("usr/lib/big.bin")
	fd, err := os.Open(f.m("usr/lib/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 100)
	if _, err := fd.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	w, _ := os.OpenFile(big, os.O_WRONLY, 0)
	w.WriteAt([]byte("tampered"), 10)       // chunk 0: read and cached
	w.WriteAt([]byte("tampered"), 3<<20+10) // a chunk not read yet
	w.Close()

	// Not read before: the server reads the changed chunk and refuses it.
	_, err = fd.ReadAt(buf, 3<<20)
	wantErrno(t, "read of a changed chunk", err, syscall.EIO)
	// Cached pages stay as verified; evicted they are re-read and refused.
	if _, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, f.content[big][:100]) {
		t.Errorf("cached chunk: %v", err)
	}
	// A new open(2) serves from the same cache (no_open implies KEEP_CACHE).
	if got, err := os.ReadFile(f.m("usr/lib/big.bin")); err == nil {
		t.Errorf("whole re-read after tampering succeeded (%d bytes)", len(got))
	}
	re, err := os.Open(f.m("usr/lib/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := re.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, f.content[big][:100]) {
		t.Errorf("cached chunk through a new open: %v", err)
	}
	re.Close()
	if err := unix.Fadvise(int(fd.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	_, err = fd.ReadAt(buf, 0)
	wantErrno(t, "re-read after eviction", err, syscall.EIO)
	if f.log.count(slog.LevelError, "hash mismatch", big) == 0 {
		t.Error("no error-level hash mismatch log with the host path")
	}
	// Untouched chunks still read.
	if _, err := fd.ReadAt(buf, 1<<20); err != nil || !bytes.Equal(buf, f.content[big][1<<20:1<<20+100]) {
		t.Errorf("untouched chunk: %v", err)
	}
}

func TestTamperedBeforeFirstOpen(t *testing.T) {
	f := newFixture(t, nil)
	os.WriteFile(f.h("usr/bin/tool"), []byte("#!/bin/sh\necho evil\n"), 0o755)
	_, err := os.ReadFile(f.m("usr/bin/tool"))
	wantErrno(t, "read of a file changed before open", err, syscall.EIO)
}

func TestWithIndex(t *testing.T) {
	var ixSize int64
	f := newFixture(t, func(f *fixture, c *Config) {
		files := map[string][32]byte{}
		for _, p := range []string{"usr/bin/tool", "usr/lib/big.bin"} {
			files[f.h(p)] = sha256.Sum256(f.content[f.h(p)])
		}
		c.Trusted = trustedfs.NewSet(files)
		c.Trusted.AttachIndex(signedIndex(t, files, nil))
		// Grow one host file after signing: the index size is authoritative
		// for stat, and the file no longer opens (an append is a change).
		a, _ := os.OpenFile(f.h("usr/lib/big.bin"), os.O_APPEND|os.O_WRONLY, 0)
		a.Write([]byte("appended"))
		a.Close()
		ixSize = int64(len(f.content[f.h("usr/lib/big.bin")]))
	})
	st, err := os.Stat(f.m("usr/lib/big.bin"))
	if err != nil || st.Size() != ixSize {
		t.Fatalf("size %v (%v), want the index's %d", st.Size(), err, ixSize)
	}
	if got, err := os.ReadFile(f.m("usr/lib/big.bin")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a file grown after signing: %d bytes, %v; want EIO", len(got), err)
	}
	got, err := os.ReadFile(f.m("usr/bin/tool"))
	if err != nil || !bytes.Equal(got, f.content[f.h("usr/bin/tool")]) {
		t.Errorf("read with index: %d bytes, %v", len(got), err)
	}
}

func TestAllowedReadWrite(t *testing.T) {
	f := newFixture(t, nil)
	d := f.m("data")
	if got, err := os.ReadFile(filepath.Join(d, "existing.txt")); err != nil || string(got) != "existing" {
		t.Fatalf("read allowed: %q %v", got, err)
	}
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Reading a file must not hold it open for writing on the host, which
	// would make executing it fail with ETXTBSY.
	os.WriteFile(f.h("data/run.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	if _, err := os.ReadFile(filepath.Join(d, "run.sh")); err != nil {
		t.Fatal(err)
	}
	step("exec on the host after a read in the view", exec.Command(f.h("data/run.sh")).Run())
	step("create", os.WriteFile(filepath.Join(d, "new.txt"), []byte("hello"), 0o640))
	fh, err := os.OpenFile(filepath.Join(d, "new.txt"), os.O_RDWR|os.O_APPEND, 0)
	step("open rw", err)
	_, err = fh.Write([]byte(" world"))
	step("append", err)
	step("fsync", fh.Sync())
	fh.Close()
	if got, _ := os.ReadFile(filepath.Join(f.host, "data/new.txt")); string(got) != "hello world" {
		t.Errorf("host content %q", got)
	}
	step("truncate", os.Truncate(filepath.Join(d, "new.txt"), 5))
	step("chmod", os.Chmod(filepath.Join(d, "new.txt"), 0o600))
	if st, _ := os.Stat(f.h("data/new.txt")); st.Size() != 5 || st.Mode().Perm() != 0o600 {
		t.Errorf("host after truncate+chmod: %v", st)
	}
	step("utimens", unix.UtimesNano(filepath.Join(d, "new.txt"), []unix.Timespec{{Sec: 1000}, {Sec: 2000}}))
	if st, _ := os.Stat(f.h("data/new.txt")); st.ModTime().Unix() != 2000 {
		t.Errorf("host mtime %v", st.ModTime())
	}
	step("mkdir", os.Mkdir(filepath.Join(d, "dir"), 0o755))
	step("rename", os.Rename(filepath.Join(d, "new.txt"), filepath.Join(d, "dir/moved.txt")))
	if got, err := os.ReadFile(filepath.Join(d, "dir/moved.txt")); err != nil || string(got) != "hello" {
		t.Errorf("read after rename: %q %v", got, err)
	}
	step("write after rename", os.WriteFile(filepath.Join(d, "dir/moved.txt"), []byte("again"), 0o600))
	if got, _ := os.ReadFile(f.h("data/dir/moved.txt")); string(got) != "again" {
		t.Errorf("host after rename+write: %q", got)
	}
	step("symlink", os.Symlink("dir/moved.txt", filepath.Join(d, "link")))
	if tgt, err := os.Readlink(f.h("data/link")); err != nil || tgt != "dir/moved.txt" {
		t.Errorf("host symlink %q %v", tgt, err)
	}
	if got, err := os.ReadFile(filepath.Join(d, "link")); err != nil || string(got) != "again" {
		t.Errorf("read via symlink: %q %v", got, err)
	}

	// Shared writable mmap.
	mp := filepath.Join(d, "mapped")
	step("create mapped", os.WriteFile(mp, make([]byte, 8192), 0o644))
	mf, err := os.OpenFile(mp, os.O_RDWR, 0)
	step("open mapped", err)
	mem, err := unix.Mmap(int(mf.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	step("mmap", err)
	copy(mem[4096:], "via mmap")
	step("msync", unix.Msync(mem, unix.MS_SYNC))
	unix.Munmap(mem)
	mf.Close()
	if got, _ := os.ReadFile(f.h("data/mapped")); !bytes.Equal(got[4096:4104], []byte("via mmap")) {
		t.Errorf("host after mmap write: %q", got[4096:4104])
	}

	// A file unlinked while open keeps working (temporary files, journals).
	tmp, err := os.Create(filepath.Join(d, "tmpfile"))
	step("create tmpfile", err)
	step("unlink open file", os.Remove(filepath.Join(d, "tmpfile")))
	_, err = tmp.WriteAt([]byte("still here"), 0)
	step("write after unlink", err)
	got := make([]byte, 10)
	if _, err := tmp.ReadAt(got, 0); err != nil || string(got) != "still here" {
		t.Errorf("read after unlink: %q %v", got, err)
	}
	tmp.Close()
	ex, err := os.OpenFile(filepath.Join(d, "existing.txt"), os.O_RDWR, 0)
	step("open existing", err)
	step("unlink existing", os.Remove(filepath.Join(d, "existing.txt")))
	if _, err := ex.WriteAt([]byte("E"), 0); err != nil {
		t.Errorf("write to an unlinked, never-read file: %v", err)
	}
	ex.Close()

	step("unlink", os.Remove(filepath.Join(d, "link")))
	step("unlink file", os.Remove(filepath.Join(d, "dir/moved.txt")))
	step("rmdir", os.Remove(filepath.Join(d, "dir")))
	if _, err := os.Lstat(f.h("data/dir")); !os.IsNotExist(err) {
		t.Errorf("host dir still there: %v", err)
	}
	// Creation outside allowed dirs is refused.
	wantErrno(t, "mkdir outside", os.Mkdir(f.m("etc/x"), 0o755), syscall.EACCES)
	wantErrno(t, "rmdir of a read-only dir", os.Remove(f.m("usr")), syscall.EOVERFLOW)
}

func TestAllowedFileEntry(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		c.Allowed = []string{f.h("etc/app.log")}
	})
	if err := os.WriteFile(f.m("etc/app.log"), []byte("log"), 0o644); err != nil {
		t.Fatalf("create an allowed file entry: %v", err)
	}
	wantErrno(t, "create a sibling", os.WriteFile(f.m("etc/other"), nil, 0o644), syscall.EACCES)
	wantErrno(t, "unlink unlisted sibling", os.Remove(f.m("etc/unlisted.conf")), syscall.EOVERFLOW)
}

func TestSymlinkAndDotDotEscapes(t *testing.T) {
	f := newFixture(t, nil)
	// Presented as a symlink, resolved by the kernel in the view: the host's
	// ../../outside is not reached.
	if tgt, err := os.Readlink(f.m("usr/esc")); err != nil || tgt != "../../outside" {
		t.Errorf("readlink: %q %v", tgt, err)
	}
	if _, err := os.ReadFile(f.m("usr/esc/secret")); err == nil {
		t.Error("read through an escaping symlink succeeded")
	}
	// The host swaps a looked-up allowed directory for a symlink out of the
	// mount: the server does not follow it.
	if _, err := os.Stat(f.m("data/sub/f")); err != nil {
		t.Fatal(err)
	}
	os.Rename(f.h("data/sub"), f.h("data/sub.old"))
	os.Symlink(f.outside, f.h("data/sub"))
	got, err := os.ReadFile(f.m("data/sub/f"))
	if err == nil && string(got) == "outside" {
		t.Fatal("server followed a host symlink out of the mount")
	}
	if err == nil {
		t.Errorf("read after the swap: %q", got)
	}
	// Server-side: resolution refuses .. and absolute paths beneath a mount.
	c := f.srv.mounts[0].be.(*chroot)
	for _, rel := range []string{"../outside/secret", "data/../../outside/secret", "/etc/passwd", "usr/esc/secret"} {
		if fd, err := c.open(rel, unix.O_RDONLY); err == nil {
			unix.Close(fd)
			t.Errorf("chroot.open(%q) succeeded", rel)
		}
	}
}

func TestDotDotStaysInView(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		// /data is a mount of host/data, whose host parent holds etc/; the
		// view's root is outside/, which has no etc/.
		c.Mounts = []Mount{{Path: "/", Host: f.outside}, {Path: "/data", Host: f.h("data")}}
		c.Policy = AllowAllButLog
	})
	if _, err := os.Stat(f.m("data/../etc/unlisted.conf")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("data/../etc/unlisted.conf: %v, want ENOENT (host/etc is outside the view)", err)
	}
	if got, err := os.ReadFile(f.m("data/../secret")); err != nil || string(got) != "secret" {
		t.Errorf("data/../secret should be the view root's file: %q %v", got, err)
	}
}

// TestServerSideChecks mounts without default_permissions, so that requests
// the kernel would have refused reach the server, which must refuse them too.
func TestServerSideChecks(t *testing.T) {
	needFUSE(t)
	f := newFixture(t, func(f *fixture, c *Config) {})
	f.srv.noDefaultPermissions = true
	mnt2 := filepath.Join(t.TempDir(), "mnt2")
	os.Mkdir(mnt2, 0o755)
	fsrv, err := f.srv.Mount(mnt2)
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Unmount()
	w, err := os.OpenFile(filepath.Join(mnt2, "usr/bin/tool"), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	wantErrno(t, "write to trusted", err, syscall.EACCES)
	wantErrno(t, "truncate trusted", os.Truncate(filepath.Join(mnt2, "usr/bin/tool"), 0), syscall.EACCES)
	_, err = os.ReadFile(filepath.Join(mnt2, "etc/unlisted.conf"))
	wantErrno(t, "read unlisted", err, syscall.EACCES)
	wantErrno(t, "create outside allowed", os.WriteFile(filepath.Join(mnt2, "etc/new"), nil, 0o644), syscall.EACCES)
	wantErrno(t, "mkdir outside allowed", os.Mkdir(filepath.Join(mnt2, "usr/d"), 0o755), syscall.EACCES)
	wantErrno(t, "rename out of allowed", os.Rename(filepath.Join(mnt2, "data/existing.txt"), filepath.Join(mnt2, "etc/x")), syscall.EACCES)
	// unlink, rename and chmod of unowned inodes stop in the VFS (EOVERFLOW)
	// with or without default_permissions; see TestTrustedWriteDenied.
	if got, _ := os.ReadFile(f.h("usr/bin/tool")); !bytes.Equal(got, f.content[f.h("usr/bin/tool")]) {
		t.Error("host file changed")
	}
	if _, err := os.Stat(f.h("etc/new")); err == nil {
		t.Error("file created on the host")
	}
}

func TestAliasesAndMountPoints(t *testing.T) {
	var ldso, unl string
	f := newFixture(t, func(f *fixture, c *Config) {
		rt := t.TempDir()
		ldso = filepath.Join(rt, "ld.so")
		os.WriteFile(ldso, []byte("interp"), 0o755)
		unl = filepath.Join(rt, "unlisted")
		os.WriteFile(unl, []byte("x"), 0o644)
		entries := map[string][32]byte{ldso: sha256.Sum256([]byte("interp"))}
		for p, b := range f.content {
			entries[p] = sha256.Sum256(b)
		}
		c.Trusted = trustedfs.NewSet(entries)
		c.Aliases = map[string]string{"/lib64/ld-linux-x86-64.so.2": ldso, "/usr/bin/tool": ldso, "/lib64/unlisted": unl}
	})
	if got, err := os.ReadFile(f.m("lib64/ld-linux-x86-64.so.2")); err != nil || string(got) != "interp" {
		t.Errorf("alias: %q %v", got, err)
	}
	if got, err := os.ReadFile(f.m("usr/bin/tool")); err != nil || string(got) != "interp" {
		t.Errorf("alias shadowing a mounted file: %q %v", got, err)
	}
	_, err := os.ReadFile(f.m("lib64/unlisted"))
	wantErrno(t, "unlisted alias", err, syscall.EACCES)
	ents, _ := os.ReadDir(f.m("lib64"))
	if len(ents) != 2 {
		t.Errorf("lib64 listing: %v", ents)
	}
	for _, mp := range []string{"proc", "dev", "tmp/deep/point"} {
		st, err := os.Stat(f.m(mp))
		if err != nil || !st.IsDir() {
			t.Errorf("mount point %s: %v %v", mp, st, err)
		}
	}
	root, _ := os.ReadDir(f.mnt)
	var names []string
	for _, e := range root {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "data,dev,etc,lib64,proc,tmp,usr" {
		t.Errorf("root listing %s", got)
	}
	if ents, _ := os.ReadDir(f.m("proc")); len(ents) != 0 {
		t.Errorf("mount point not empty: %v", ents)
	}
}

func TestMountOrder(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		c.Mounts = []Mount{
			{Path: "/", Host: f.host},
			{Path: "/usr/lib", Host: f.outside}, // hidden by the later /usr
			{Path: "/usr", Host: f.h("usr")},
			{Path: "/etc/deep", Host: f.outside},           // nested: longest prefix wins
			{Path: "/one", Host: f.h("data/existing.txt")}, // a single file
		}
		c.Policy = AllowAllButLog
	})
	if _, err := os.Stat(f.m("usr/lib/big.bin")); err != nil {
		t.Errorf("/usr/lib should come from the later /usr mount: %v", err)
	}
	if got, err := os.ReadFile(f.m("etc/deep/secret")); err != nil || string(got) != "secret" {
		t.Errorf("nested mount: %q %v", got, err)
	}
	if got, err := os.ReadFile(f.m("one")); err != nil || string(got) != "existing" {
		t.Errorf("file mount: %q %v", got, err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []Config{
		{Mounts: []Mount{{Path: "rel", Host: "/"}}},
		{Mounts: []Mount{{Path: "/", Host: "/nonexistent/nacre"}}},
		{Allowed: []string{"relative"}},
		{Aliases: map[string]string{"/": "/etc/hostname"}},
		{MountPoints: []string{"proc"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func TestLargeDirectory(t *testing.T) {
	f := newFixture(t, nil)
	os.Mkdir(f.h("data/many"), 0o755)
	for i := range 700 {
		os.WriteFile(f.h(fmt.Sprintf("data/many/file-with-a-longish-name-%04d", i)), nil, 0o644)
	}
	for range 2 { // the second listing comes from the kernel's cache
		ents, err := os.ReadDir(f.m("data/many"))
		if err != nil || len(ents) != 700 {
			t.Fatalf("listed %d entries, %v", len(ents), err)
		}
		for i, e := range ents {
			if want := fmt.Sprintf("file-with-a-longish-name-%04d", i); e.Name() != want || !e.Type().IsRegular() {
				t.Fatalf("entry %d: %s %v", i, e.Name(), e.Type())
			}
		}
	}
}

// signedIndex builds the chunk index of files from the host files, as nacre
// sign does, and opens it bound to its SHA-256; edit, if not nil, changes
// the index bytes first (a signer who lists what it likes).
func signedIndex(t *testing.T, files map[string][32]byte, edit func([]byte) []byte) *trustedfs.Index {
	t.Helper()
	var buf bytes.Buffer
	if err := trustedfs.BuildIndex(&buf, files, nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if edit != nil {
		b = edit(b)
	}
	ip := filepath.Join(t.TempDir(), "index")
	if err := os.WriteFile(ip, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := trustedfs.OpenIndex(ip, sha256.Sum256(b))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}
