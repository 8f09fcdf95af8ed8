package fileserver

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The app must not build a store elsewhere and move it into a protected
// place above the store, nor build one on a path whose directories are
// missing or whose ancestor is a symlink it can replace: a later run would
// serve what it planted without hashing it.

// notPlanted fails if the app's file p reached the host.
func notPlanted(t *testing.T, f *fixture, p string) {
	t.Helper()
	if _, err := os.Lstat(f.h(p)); err == nil {
		t.Errorf("the app planted %s on the host", p)
	}
}

// RENAME_EXCHANGE of an app-built tree with a non-named ancestor of an existing store.
func TestProtectedAncestorExchange(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		os.MkdirAll(filepath.Join(shm, "a", "b", "verified"), 0o700)
		c.Allowed = append(c.Allowed, shm)
		c.Protected = []string{filepath.Join(shm, "a", "b", "verified"), filepath.Join(shm, "a", "b")}
	})
	if err := os.MkdirAll(f.m("shm/evil/b/verified"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.m("shm/evil/b/verified/key"), []byte("planted"), 0o400); err != nil {
		t.Fatal(err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, f.m("shm/evil"), unix.AT_FDCWD, f.m("shm/a"), unix.RENAME_EXCHANGE)
	t.Logf("exchange: %v", err)
	notPlanted(t, f, "shm/a/b/verified/key")
}

// A plain rename onto an empty ancestor (store not made yet).
func TestProtectedAncestorRenameOnto(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		os.MkdirAll(filepath.Join(shm, "x"), 0o700)
		c.Allowed = append(c.Allowed, shm)
		c.Protected = []string{filepath.Join(shm, "x", "y", "verified"), filepath.Join(shm, "x", "y")}
	})
	os.MkdirAll(f.m("shm/evil/y/verified"), 0o700)
	os.WriteFile(f.m("shm/evil/y/verified/key"), []byte("planted"), 0o400)
	err := os.Rename(f.m("shm/evil"), f.m("shm/x"))
	t.Logf("rename: %v", err)
	notPlanted(t, f, "shm/x/y/verified/key")
}

// Ancestors missing at server start.
func TestProtectedMissingAncestor(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		os.MkdirAll(shm, 0o700)
		c.Allowed = append(c.Allowed, shm)
		c.Protected = []string{filepath.Join(shm, "m", "n", "verified"), filepath.Join(shm, "m", "n")}
	})
	err := os.MkdirAll(f.m("shm/m/n/verified"), 0o700)
	t.Logf("mkdir: %v", err)
	os.WriteFile(f.m("shm/m/n/verified/key"), []byte("planted"), 0o400)
	notPlanted(t, f, "shm/m/n/verified/key")
}

// An ancestor that is a symlink is replaced.
func TestProtectedSymlinkAncestor(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		os.MkdirAll(filepath.Join(shm, "real", "n", "verified"), 0o700)
		os.Symlink("real", filepath.Join(shm, "ln"))
		c.Allowed = append(c.Allowed, shm)
		c.Protected = []string{filepath.Join(shm, "ln", "n", "verified"), filepath.Join(shm, "ln", "n")}
	})
	t.Logf("unlink: %v", os.Remove(f.m("shm/ln")))
	t.Logf("mkdir: %v", os.MkdirAll(f.m("shm/ln/n/verified"), 0o700))
	os.WriteFile(f.m("shm/ln/n/verified/key"), []byte("planted"), 0o400)
	notPlanted(t, f, "shm/ln/n/verified/key")
}
