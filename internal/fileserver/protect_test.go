package fileserver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// protFixture is a fixture whose allowed directory host/shm plays /dev/shm:
// shm/nacre-7/verified is a store location that does not exist yet, and
// shm/live/verified one that does (with a copy in it). /alt mounts shm a
// second time.
func protFixture(t *testing.T) *fixture {
	return newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		if err := os.MkdirAll(filepath.Join(shm, "live", "verified"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shm, "live", "verified", "copy"), []byte("verified"), 0o400)
		c.Allowed = append(c.Allowed, shm)
		c.Mounts = append(c.Mounts, Mount{Path: "/alt", Host: shm})
		c.Protected = []string{
			filepath.Join(shm, "nacre-7", "verified"), filepath.Join(shm, "nacre-7"),
			filepath.Join(shm, "live", "verified"), filepath.Join(shm, "live"),
		}
	})
}

func TestProtectedStore(t *testing.T) {
	f := protFixture(t)
	notOnHost := func(p string) {
		t.Helper()
		if _, err := os.Lstat(f.h(p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created on the host (%v)", p, err)
		}
	}

	// The legitimate store appears on the host after the server started:
	// still out of reach, by name.
	if err := os.MkdirAll(f.h("shm/nacre-7/verified"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat(f.m("shm/nacre-7"))
	wantErrno(t, "lookup of a store directory made after start", err, syscall.EACCES)
	_, err = os.Stat(f.m("alt/nacre-7/verified"))
	wantErrno(t, "lookup below it through the second mount", err, syscall.EACCES)
	os.RemoveAll(f.h("shm/nacre-7"))

	for _, dir := range []string{"shm", "alt"} {
		name := dir + "/nacre-7"
		wantErrno(t, "mkdir "+name, os.Mkdir(f.m(name), 0o700), syscall.EACCES)
		_, err := os.OpenFile(f.m(name), os.O_CREATE|os.O_WRONLY, 0o400)
		wantErrno(t, "create "+name, err, syscall.EACCES)
		wantErrno(t, "symlink "+name, os.Symlink("/tmp", f.m(name)), syscall.EACCES)
		wantErrno(t, "mkfifo "+name, unix.Mkfifo(f.m(name), 0o600), syscall.EACCES)
		if err := os.Mkdir(f.m(dir+"/staging"), 0o700); err != nil {
			t.Fatalf("mkdir elsewhere in the allowed dir: %v", err)
		}
		if err := os.WriteFile(f.m(dir+"/staging/key"), []byte("planted"), 0o400); err != nil {
			t.Fatalf("create elsewhere in the allowed dir: %v", err)
		}
		wantErrno(t, "rename to "+name, os.Rename(f.m(dir+"/staging"), f.m(name)), syscall.EACCES)
		wantErrno(t, "link to "+name, os.Link(f.m(dir+"/staging/key"), f.m(name)), syscall.EACCES)
		notOnHost("shm/nacre-7")
		os.RemoveAll(f.h("shm/staging"))

		// The existing store: no lookup, so nothing below it either.
		for _, p := range []string{"live", "live/verified", "live/verified/copy"} {
			_, err := os.Stat(f.m(dir + "/" + p))
			wantErrno(t, "lookup of "+dir+"/"+p, err, syscall.EACCES)
		}
		_, err = os.OpenFile(f.m(dir+"/live/verified/planted"), os.O_CREATE|os.O_WRONLY, 0o400)
		wantErrno(t, "create in the store", err, syscall.EACCES)
		wantErrno(t, "rename of the store", os.Rename(f.m(dir+"/live"), f.m(dir+"/gone")), syscall.EACCES)
		wantErrno(t, "rmdir of the store", os.Remove(f.m(dir+"/live")), syscall.EACCES)
		notOnHost("shm/live/verified/planted")
		if b, err := os.ReadFile(f.h("shm/live/verified/copy")); err != nil || string(b) != "verified" {
			t.Errorf("copy changed: %q, %v", b, err)
		}
	}
	// The directory holding a store location cannot be moved away (and
	// replaced by a fresh one).
	wantErrno(t, "rename of the store's parent", os.Rename(f.m("shm"), f.m("shm2")), syscall.EACCES)

	// The kernel looks a name up before it creates it, so the LOOKUP
	// refusal answered the above; the backend refuses on its own too.
	c := f.srv.mountAt["/"].be.(*chroot)
	if err := os.Mkdir(f.h("shm/src"), 0o700); err != nil {
		t.Fatal(err)
	}
	for what, errno := range map[string]syscall.Errno{
		"mkdir":   func() syscall.Errno { _, e := c.mkdir("shm/nacre-7", 0o700); return e }(),
		"create":  func() syscall.Errno { _, _, e := c.create("shm/nacre-7", 0, 0o400); return e }(),
		"symlink": func() syscall.Errno { _, e := c.symlink("x", "shm/nacre-7"); return e }(),
		"rename":  c.rename("shm/src", "shm/nacre-7", 0),
		"create below": func() syscall.Errno {
			_, _, e := c.create("shm/live/verified/k", 0, 0o400)
			return e
		}(),
	} {
		wantErrno(t, "backend "+what, errnoErr(errno), syscall.EACCES)
	}
	notOnHost("shm/nacre-7")
	notOnHost("shm/live/verified/k")

	// Everything else in the allowed directory still works.
	if err := os.WriteFile(f.m("shm/ok.txt"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(f.m("alt/ok.txt")); err != nil || string(b) != "fine" {
		t.Errorf("read back: %q, %v", b, err)
	}
	if err := os.Mkdir(f.m("shm/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.m("shm/d"), f.m("shm/d2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.txt", f.m("shm/ln")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.m("shm/d2")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(f.m("shm"))
	if err != nil || len(ents) == 0 {
		t.Errorf("readdir: %v, %v", ents, err)
	}
	found := false
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	for _, r := range f.log.recs {
		if strings.Contains(r.Message, "verified-copy store area") {
			found = true
		}
	}
	if !found {
		t.Error("refusals not logged")
	}
}

// A mount of a protected directory, or of anything inside one, is refused
// when the server is made; one of its parent is not.
func TestProtectedMountRoot(t *testing.T) {
	base := t.TempDir()
	store := filepath.Join(base, "nacre-7", "verified")
	if err := os.MkdirAll(filepath.Join(store, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(store, "copy"), nil, 0o400)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(store, link)
	prot := []string{store, filepath.Dir(store)}
	for _, host := range []string{store, filepath.Dir(store), filepath.Join(store, "sub"), filepath.Join(store, "copy"), link} {
		s, err := New(Config{Mounts: []Mount{{Path: "/m", Host: host}}, Protected: prot})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "verified copies") {
			t.Errorf("mount of %s: err = %v", host, err)
		}
	}
	s, err := New(Config{Mounts: []Mount{{Path: "/m", Host: base}}, Protected: prot})
	if err != nil {
		t.Fatalf("mount of the store's grandparent: %v", err)
	}
	s.Close()
	s, err = New(Config{Aliases: map[string]string{"/lib/x": filepath.Join(store, "copy")}, Protected: prot})
	if err == nil {
		s.Close()
		t.Error("alias of a copy accepted")
	}
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// For root, Protected holds patterns: every user's /dev/shm/nacre-<uid>.
func TestProtectedPattern(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		shm := f.h("shm")
		os.MkdirAll(filepath.Join(shm, "nacre-9", "verified"), 0o700)
		c.Allowed = append(c.Allowed, shm)
		c.Protected = []string{filepath.Join(shm, "nacre-*"), filepath.Join(shm, "nacre-*", "verified")}
	})
	_, err := os.Stat(f.m("shm/nacre-9"))
	wantErrno(t, "lookup of an existing match", err, syscall.EACCES)
	wantErrno(t, "mkdir of a new match", os.Mkdir(f.m("shm/nacre-55"), 0o700), syscall.EACCES)
	if err := os.Mkdir(f.m("shm/nacre"), 0o700); err != nil {
		t.Errorf("mkdir of a name without the prefix: %v", err)
	}
	c := f.srv.mountAt["/"].be.(*chroot)
	_, errno := c.mkdir("shm/nacre-9/verified/x", 0o700)
	wantErrno(t, "backend mkdir in an existing match", errnoErr(errno), syscall.EACCES)
}
