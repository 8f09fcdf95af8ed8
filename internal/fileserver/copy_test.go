package fileserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/trustedfs"
	"github.com/nacre-tee/nacre/internal/verifiedcache"
	"golang.org/x/sys/unix"
)

// shmStore returns a store in a fresh tmpfs directory (shared by the mounts
// of one test, as by the runs of one machine).
func shmStore(t *testing.T) (*verifiedcache.Store, string) {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "nacre-fs-test-")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	s, err := verifiedcache.Open(d, 1<<30, nil)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, d
}

const copyFile = "usr/lib/data.bin"

// copyFixture mounts a view whose trusted usr/lib/data.bin (content, with a
// chunk index) may be cached in store; before runs after the file is
// written and signed, before the mount.
// With reuse (an earlier fixture's host root) the view serves that host
// tree and its file as they are: another run over the same host file.
func copyFixture(t *testing.T, store *verifiedcache.Store, passthrough bool, content []byte, before func(host string), reuse ...string) (*fixture, string) {
	var host string
	f := newFixture(t, func(f *fixture, c *Config) {
		host = f.h(copyFile)
		if len(reuse) > 0 {
			c.Mounts = []Mount{{Path: "/", Host: reuse[0]}}
			host = filepath.Join(reuse[0], copyFile)
		} else if err := os.WriteFile(host, content, 0o644); err != nil {
			t.Fatal(err)
		}
		files := map[string][32]byte{host: sha256.Sum256(content)}
		c.Trusted = trustedfs.NewSet(files)
		c.Trusted.AttachIndex(signedIndex(t, files, nil))
		c.Cache, c.Passthrough = store, passthrough
		if before != nil {
			before(host)
		}
	})
	return f, host
}

// storeHas reports whether some copy in the store directory holds content.
func storeHas(t *testing.T, dir string, content []byte) bool {
	t.Helper()
	names, _ := os.ReadDir(dir)
	for _, e := range names {
		if got, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && bytes.Equal(got, content) {
			return true
		}
	}
	return false
}

// A whole read builds the copy; a second view (another run) serves the
// signed bytes from it without reading the host file.
func TestCopyBuiltAndHit(t *testing.T) {
	store, dir := shmStore(t)
	content := randBytes(1<<20+123, 11)
	f, host := copyFixture(t, store, false, content, nil)
	if got, err := os.ReadFile(f.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("first read: %v", err)
	}
	waitBuilt(f.srv, 1)
	if !storeHas(t, dir, content) || f.srv.copies.built.Load() != 1 {
		t.Fatalf("no copy built (built %d)", f.srv.copies.built.Load())
	}
	// Another run over the same host file: served from the copy, the host
	// file is not read.
	root := filepath.Dir(filepath.Dir(filepath.Dir(host)))
	g, _ := copyFixture(t, store, false, content, nil, root)
	if got, err := os.ReadFile(g.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read from copy: %v", err)
	}
	if g.srv.copies.hits.Load() != 1 || g.srv.copies.served.Load() == 0 {
		t.Errorf("hits %d, READs from the copy %d", g.srv.copies.hits.Load(), g.srv.copies.served.Load())
	}
	if n := g.log.count(LevelTrace, "verified read", host); n != 0 {
		t.Errorf("%d verified reads of the host file", n)
	}
	// The host file changes while the app has it open: the rest is read
	// from the host, verified, and the changed chunk fails.
	k, _ := copyFixture(t, store, false, content, nil, root)
	fd, err := os.Open(k.m(copyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 4096)
	if _, err := fd.ReadAt(buf, 0); err != nil || k.srv.copies.served.Load() == 0 {
		t.Fatalf("first READ: %v, from the copy: %d", err, k.srv.copies.served.Load())
	}
	patch(t, host, 1<<20, []byte("changed"))
	_, err = fd.ReadAt(buf, 1<<20)
	wantErrno(t, "read of a chunk changed while open", err, syscall.EIO)
	if err := os.WriteFile(host, content, 0o644); err != nil { // signed again, for the next run
		t.Fatal(err)
	}
	// The host file changes after the copy was made: the copy of its signed
	// bytes is not used, the changed file is read and fails, loudly.
	h, _ := copyFixture(t, store, false, content, func(host string) { patch(t, host, 100, []byte("changed")) }, root)
	_, err = os.ReadFile(h.m(copyFile))
	wantErrno(t, "read of a file changed after its copy was made", err, syscall.EIO)
	if h.srv.copies.served.Load() != 0 {
		t.Errorf("%d READs served from the copy of a changed file", h.srv.copies.served.Load())
	}
}

// A chunk changed on the host between two READs fails as before, and no
// copy is published from the chunks that did verify.
func TestCopyNotBuiltWhenTampered(t *testing.T) {
	store, dir := shmStore(t)
	content := randBytes(1<<20, 12)
	f, host := copyFixture(t, store, false, content, nil)
	fd, err := os.Open(f.m(copyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 512<<10)
	if _, err := fd.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	patch(t, host, 900<<10, []byte("tampered"))
	_, err = fd.ReadAt(buf, 512<<10)
	wantErrno(t, "read of a tampered chunk", err, syscall.EIO)
	// The rest of the file, untampered, still reads.
	small := make([]byte, 4096)
	fd.ReadAt(small, 512<<10)
	fd.ReadAt(small, 1<<20-4096)
	f.srv.waitCopies()
	if storeHas(t, dir, content) || f.srv.copies.built.Load() != 0 {
		t.Error("copy published although a chunk failed verification")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("store holds %d entries", len(names))
	}
}

// A forged copy (not ours, or writable by others) is ignored: the host file
// is verified as without a store.
func TestForgedCopyIgnored(t *testing.T) {
	store, dir := shmStore(t)
	content := randBytes(64<<10, 13)
	evil := bytes.Repeat([]byte("E"), len(content))
	// Planted under the key the file will have, once it is written.
	plant := func(host string) {
		var st unix.Stat_t
		if err := unix.Stat(host, &st); err != nil {
			t.Fatal(err)
		}
		forged := filepath.Join(dir, hex.EncodeToString(func() []byte {
			k := copyKeyFor(sha256.Sum256(content), int64(len(content)), chunkDigest(content), &st)
			return k[:]
		}()))
		if err := os.WriteFile(forged, evil, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(forged, 0o666)
		os.Chown(forged, 65534, 65534)
	}
	f, _ := copyFixture(t, store, false, content, plant)
	if got, err := os.ReadFile(f.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read with a forged copy present: %v (evil %v)", err, bytes.Equal(got, evil))
	}
	if f.srv.copies.hits.Load() != 0 {
		t.Error("forged copy used")
	}
}

// As root with Passthrough, an open of a file with a copy is passed
// through to it, unless a cached-mode handle of the inode is open.
func TestCopyPassthrough(t *testing.T) {
	store, dir := shmStore(t)
	content := randBytes(1<<20, 14)
	f, host := copyFixture(t, store, true, content, nil)
	if !f.srv.openMode.Load() {
		t.Skip("kernel offers no FUSE passthrough")
	}
	held, err := os.Open(f.m(copyFile)) // cached mode: no copy yet
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(f.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("first read: %v", err)
	}
	waitBuilt(f.srv, 1)
	if !storeHas(t, dir, content) {
		t.Fatal("no copy built")
	}
	// The copy exists now, but held is a cached-mode handle: a new open
	// must stay in cached mode (the kernel would refuse passthrough).
	if got, err := os.ReadFile(f.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read while a cached handle is open: %v", err)
	}
	if n := f.srv.copies.passthrough.Load(); n != 0 {
		t.Errorf("%d passthrough opens while a cached handle is open", n)
	}
	held.Close()
	// RELEASE is asynchronous; open until the server has seen it.
	var got []byte
	for i := 0; i < 1000 && f.srv.copies.passthrough.Load() == 0; i++ {
		got, err = os.ReadFile(f.m(copyFile))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read: %v", err)
		}
	}
	if f.srv.copies.passthrough.Load() == 0 {
		t.Fatal("no passthrough open after the cached handles closed")
	}
	if !f.srv.openMode.Load() {
		t.Error("the kernel refused the copy as backing file")
	}

	// Another run: the first open is passed through, and its reads reach
	// the server not at all.
	g, _ := copyFixture(t, store, true, content, nil, filepath.Dir(filepath.Dir(filepath.Dir(host))))
	if got, err := os.ReadFile(g.m(copyFile)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read through passthrough: %v", err)
	}
	if g.srv.copies.passthrough.Load() != 1 || g.srv.copies.served.Load() != 0 || g.log.count(LevelTrace, "verified read", host) != 0 {
		t.Errorf("passthrough %d, READs from copy %d, verified READs %d", g.srv.copies.passthrough.Load(),
			g.srv.copies.served.Load(), g.log.count(LevelTrace, "verified read", host))
	}
	// Trusted files stay read-only.
	if w, err := os.OpenFile(g.m(copyFile), os.O_RDWR, 0); err == nil {
		w.Close()
		t.Error("trusted file with a copy opened for writing")
	}
}

// chunkDigest is the SHA-256 of content's chunk-hash list, as the chunk
// index holds it.
func chunkDigest(content []byte) [32]byte {
	var list []byte
	for off := 0; off < len(content); off += trustedfs.ChunkSize {
		c := sha256.Sum256(content[off:min(off+trustedfs.ChunkSize, len(content))])
		list = append(list, c[:]...)
	}
	return sha256.Sum256(list)
}

// signedSet is a trusted set for host listing whole-file SHA-256 listed,
// with a chunk index made from the bytes chunksOf (written to host): an
// honest signer's when chunksOf hashes to listed, else a signer who lists
// one file's hash over another content's chunks.
func signedSet(t *testing.T, host string, listed [32]byte, chunksOf []byte) *trustedfs.Set {
	t.Helper()
	if err := os.WriteFile(host, chunksOf, 0o644); err != nil {
		t.Fatal(err)
	}
	real := sha256.Sum256(chunksOf)
	ix := signedIndex(t, map[string][32]byte{host: real}, func(b []byte) []byte { return bytes.Replace(b, real[:], listed[:], 1) })
	s := trustedfs.NewSet(map[string][32]byte{host: listed})
	s.AttachIndex(ix)
	return s
}

// A copy made under one signer's chunk index is not served to a manifest
// whose index has other chunk hashes for the same whole-file SHA-256: the
// bytes were verified against the first index's chunks only.
func TestCopyOtherSignerNotServed(t *testing.T) {
	store, _ := shmStore(t)
	good := randBytes(64<<10, 21)
	evil := bytes.Repeat([]byte("E"), len(good))
	listed := sha256.Sum256(good)
	var host string
	var honest *trustedfs.Set
	f1 := newFixture(t, func(f *fixture, c *Config) {
		host = f.h("usr/lib/zz")
		honest = signedSet(t, host, listed, good)
		c.Trusted = signedSet(t, host, listed, evil) // the host file now holds evil
		c.Cache = store
	})
	if got, err := os.ReadFile(f1.m("usr/lib/zz")); err != nil || !bytes.Equal(got, evil) {
		t.Fatalf("read under the forging signer's index: %v", err)
	}
	waitBuilt(f1.srv, 1)
	if f1.srv.copies.built.Load() != 1 {
		t.Fatalf("no copy built under the first index (built %d): the test proves nothing", f1.srv.copies.built.Load())
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(host)))
	f2 := newFixture(t, func(f *fixture, c *Config) {
		c.Mounts = []Mount{{Path: "/", Host: root}}
		c.Trusted = honest
		c.Cache = store
	})
	got, err := os.ReadFile(f2.m("usr/lib/zz"))
	if err == nil || bytes.Equal(got, evil) || f2.srv.copies.hits.Load() != 0 {
		t.Errorf("honest manifest: err %v, served the other index's bytes %v, hits %d", err, bytes.Equal(got, evil), f2.srv.copies.hits.Load())
	}
}

// waitBuilt waits until srv has published n copies, or gives up after a
// while (the caller then reports what it found). A READ's verified bytes
// reach the copy writer only after the reply is written, which can be just
// after the app's read returns: waitCopies alone can miss the last ones.
func waitBuilt(srv *Server, n int64) {
	for i := 0; i < 500 && srv.copies.built.Load() < n; i++ {
		srv.waitCopies()
		time.Sleep(10 * time.Millisecond)
	}
	srv.waitCopies()
}
