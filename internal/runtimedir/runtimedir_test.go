package runtimedir

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeSources creates host-like files and returns a sources func for them.
func fakeSources(t *testing.T, content map[string]string) func() ([]source, error) {
	t.Helper()
	host := t.TempDir()
	var srcs []source
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(host, n)
		if err := os.WriteFile(p, []byte(content[n]), 0o755); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, source{n, p})
	}
	return func() ([]source, error) { return srcs, nil }
}

func TestEnsureAtCreatesAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runtime", "glibc")
	v1 := fakeSources(t, map[string]string{LoaderName(): "loader-v1", "libc.so.6": "libc-v1", "libm.so.6": "libm-v1"})
	if err := ensureAt(dir, v1); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]string{LoaderName(): "loader-v1", "libc.so.6": "libc-v1", "libm.so.6": "libm-v1"} {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", n, got, err, want)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("dir mode %v, %v", fi.Mode(), err)
	}
	// A complete directory is left alone even when the host changed.
	v2 := fakeSources(t, map[string]string{LoaderName(): "loader-v2", "libc.so.6": "libc-v2"})
	if err := ensureAt(dir, v2); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "libc.so.6")); string(got) != "libc-v1" {
		t.Fatalf("complete runtime dir was modified: libc.so.6 = %q", got)
	}
	// No temporary directories are left behind.
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("parent holds %d entries, want only the runtime dir", len(entries))
	}
}

func TestEnsureAtRebuildsIncomplete(t *testing.T) {
	for name, damage := range map[string]func(dir string) error{
		"missing file": func(dir string) error { return os.Remove(filepath.Join(dir, "libm.so.6")) },
		"truncated":    func(dir string) error { return os.Truncate(filepath.Join(dir, "libc.so.6"), 1) },
		"bad stamp":    func(dir string) error { return os.WriteFile(filepath.Join(dir, stampName), []byte("garbage\n"), 0o644) },
		"no loader": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, stampName), []byte("libc.so.6 7\n"), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "glibc")
			src := fakeSources(t, map[string]string{LoaderName(): "loader", "libc.so.6": "libc-v1", "libm.so.6": "libm"})
			if err := ensureAt(dir, src); err != nil {
				t.Fatal(err)
			}
			if err := damage(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if complete(dir) == nil {
				t.Fatal("damaged dir reported complete")
			}
			if err := ensureAt(dir, src); err != nil {
				t.Fatal(err)
			}
			if err := complete(dir); err != nil {
				t.Fatalf("rebuilt dir incomplete: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "stray")); !os.IsNotExist(err) {
				t.Fatal("incomplete dir was patched in place instead of replaced")
			}
			entries, _ := os.ReadDir(filepath.Dir(dir))
			if len(entries) != 1 {
				t.Fatalf("parent holds %d entries after rebuild", len(entries))
			}
		})
	}
}

func TestEnsureAtRefusesForeignDir(t *testing.T) {
	src := fakeSources(t, map[string]string{LoaderName(): "loader", "libc.so.6": "libc"})
	dir := filepath.Join(t.TempDir(), "lib")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "precious.so"), []byte("x"), 0o644)
	if err := ensureAt(dir, src); !errors.Is(err, ErrNotRuntimeDir) {
		t.Fatalf("ensureAt(foreign dir) = %v, want ErrNotRuntimeDir", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.so")); err != nil {
		t.Fatal("foreign file removed")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if err := ensureAt(file, src); !errors.Is(err, ErrNotRuntimeDir) {
		t.Fatalf("ensureAt(file) = %v, want ErrNotRuntimeDir", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.MkdirAll(empty, 0o755)
	if err := ensureAt(empty, src); err != nil || complete(empty) != nil {
		t.Fatalf("ensureAt(empty dir) = %v", err)
	}
}

func TestEnsureAtSourceError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "glibc")
	want := errors.New("no glibc here")
	err := ensureAt(dir, func() ([]source, error) { return nil, want })
	if !errors.Is(err, want) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("dir created despite error")
	}
}

func TestEnsureUnsupportedLibc(t *testing.T) {
	for _, libc := range []string{"musl", "uclibc", ""} {
		if _, err := Ensure(libc); !errors.Is(err, ErrUnsupportedLibc) {
			t.Errorf("Ensure(%q) = %v, want ErrUnsupportedLibc", libc, err)
		}
	}
}

func TestDirAndPkgLibDir(t *testing.T) {
	base := t.TempDir()
	t.Setenv(EnvDir, filepath.Join(base, "lib", "nacre", "runtime", "glibc"))
	if got := Dir(); got != filepath.Join(base, "lib/nacre/runtime/glibc") {
		t.Errorf("Dir() = %s", got)
	}
	if got := PkgLibDir(); got != filepath.Join(base, "lib/nacre") {
		t.Errorf("PkgLibDir() = %s", got)
	}
	if got := LibOS(); got != filepath.Join(base, "lib/nacre/libsysdb.so") {
		t.Errorf("LibOS() = %s", got)
	}
	t.Setenv(EnvDir, filepath.Join(base, "rt"))
	if got := PkgLibDir(); got != base {
		t.Errorf("PkgLibDir() = %s, want %s", got, base)
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(base, "cache"))
	if d := Dir(); d != SystemDir && d != filepath.Join(base, "cache/nacre/runtime/glibc") {
		t.Errorf("Dir() = %s", d)
	}
}

func TestInterpreter(t *testing.T) {
	ip := Interpreter()
	if !filepath.IsAbs(ip) || LoaderName() != filepath.Base(ip) || LoaderName() == "" {
		t.Fatalf("Interpreter() = %q, LoaderName() = %q", ip, LoaderName())
	}
}

// hostGlibc skips tests that need a glibc-based host.
func hostGlibc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(Interpreter()); err != nil || !strings.HasPrefix(LoaderName(), "ld-linux") {
		t.Skipf("host does not use glibc's loader (interpreter %s)", Interpreter())
	}
}

func TestEnsureHost(t *testing.T) {
	hostGlibc(t)
	dir := filepath.Join(t.TempDir(), "nacre", "runtime", "glibc")
	t.Setenv(EnvDir, dir)
	got, err := Ensure("glibc")
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Fatalf("Ensure = %s, want %s", got, dir)
	}
	if err := complete(dir); err != nil {
		t.Fatal(err)
	}
	loader, _ := os.ReadFile(filepath.Join(dir, LoaderName()))
	host, _ := os.ReadFile(Interpreter())
	if len(loader) == 0 || !bytes.Equal(loader, host) {
		t.Fatal("runtime loader differs from the host's interpreter")
	}
	fi, err := os.Lstat(filepath.Join(dir, "libc.so.6"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("libc.so.6 is not a regular file copy: %v", err)
	}
	// The copied loader runs programs against the copied libc.
	out, err := exec.Command(filepath.Join(dir, LoaderName()), "--library-path", dir, "/bin/sh", "-c", "echo ok").Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("running /bin/sh with the runtime dir: %q, %v", out, err)
	}
}

func TestLDDHost(t *testing.T) {
	hostGlibc(t)
	libs, err := LDD([]string{"/bin/sh"}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !sort.StringsAreSorted(libs) {
		t.Errorf("not sorted: %v", libs)
	}
	hasInterp, hasLibc := false, false
	for _, l := range libs {
		hasInterp = hasInterp || l == Interpreter()
		hasLibc = hasLibc || filepath.Base(l) == "libc.so.6"
	}
	if !hasInterp || !hasLibc {
		t.Fatalf("LDD(/bin/sh) = %v, want the interpreter and libc.so.6", libs)
	}
	// Differential check against the system's ldd when it is there.
	if _, err := exec.LookPath("ldd"); err != nil {
		return
	}
	for _, bin := range []string{"/bin/sh", "/bin/ls", "/usr/bin/env"} {
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			continue
		}
		var want []string
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				want = append(want, f[2])
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				want = append(want, f[0])
			}
		}
		sort.Strings(want)
		got, err := LDD([]string{bin}, map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("LDD(%s) = %v, ldd says %v", bin, got, want)
		}
	}
}

func TestLDDErrors(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LDD([]string{notELF}, nil); !errors.Is(err, ErrNotELF) {
		t.Errorf("LDD(script) = %v, want ErrNotELF", err)
	}
	if _, err := LDD([]string{"/nonexistent/binary"}, nil); err == nil {
		t.Error("LDD(nonexistent) succeeded")
	}
}

func TestReadLdSoConf(t *testing.T) {
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "ld.so.conf"), []byte("# comment\n/opt/a\ninclude conf.d/*.conf\n/opt/z # trailing\n"), 0o644)
	os.WriteFile(filepath.Join(d, "conf.d", "b.conf"), []byte("/opt/b\n"), 0o644)
	os.WriteFile(filepath.Join(d, "conf.d", "a.conf"), []byte("/opt/a2\n\n"), 0o644)
	got := strings.Join(readLdSoConf(filepath.Join(d, "ld.so.conf"), 0), " ")
	if want := "/opt/a /opt/a2 /opt/b /opt/z"; got != want {
		t.Errorf("readLdSoConf = %q, want %q", got, want)
	}
}
