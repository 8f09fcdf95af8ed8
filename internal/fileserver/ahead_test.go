package fileserver

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// elfFixture adds host/usr/lib/libfake.so (an "ELF" file of size bytes,
// trusted, with a chunk index) to the standard fixture; before, if set,
// changes the host file after it was indexed and before the view is
// mounted.
func elfFixture(t *testing.T, size int, before func(host string)) (*fixture, string, []byte) {
	var host string
	content := append([]byte("\x7fELF"), randBytes(size-4, 7)...)
	f := newFixture(t, func(f *fixture, c *Config) {
		host = f.h("usr/lib/libfake.so")
		if err := os.WriteFile(host, content, 0o644); err != nil {
			t.Fatal(err)
		}
		files := map[string][32]byte{host: sha256.Sum256(content)}
		c.Trusted = trustedfs.NewSet(files)
		if err := c.Trusted.AttachIndex(signedIndex(t, files, nil)); err != nil {
			t.Fatal(err)
		}
		if before != nil {
			before(host)
		}
	})
	return f, host, content
}

func patch(t *testing.T, host string, off int64, b []byte) {
	t.Helper()
	w, err := os.OpenFile(host, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// The first READ of an ELF file stores the rest of it, verified, in the page
// cache: a chunk changed on the host afterwards is served as it was verified
// (not as changed), and once evicted it is read again and refused.
func TestVerifyAheadStoresVerified(t *testing.T) {
	const size = 3<<20 + 1000
	f, host, content := elfFixture(t, size, nil)
	fd, err := os.Open(f.m("usr/lib/libfake.so"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 64)
	if _, err := fd.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	f.srv.aheads.wait()

	// Changed after verify-ahead: the app must still see the verified bytes,
	// which proves they came from the page cache (a READ would fail).
	const off = 2<<20 + 5
	patch(t, host, off, []byte("tampered"))
	if _, err := fd.ReadAt(buf, off); err != nil || !bytes.Equal(buf, content[off:off+64]) {
		t.Fatalf("chunk stored ahead, then changed on the host: err %v, equal %v", err, bytes.Equal(buf, content[off:off+64]))
	}
	// The last partial chunk was stored up to the verified size, not past it.
	tail := make([]byte, 2000)
	m, err := fd.ReadAt(tail, size-1000)
	if m != 1000 || !bytes.Equal(tail[:m], content[size-1000:]) {
		t.Errorf("tail: %d bytes, err %v", m, err)
	}
	if st, _ := fd.Stat(); st.Size() != size {
		t.Errorf("size %d after verify-ahead, want %d", st.Size(), size)
	}
	if err := unix.Fadvise(int(fd.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	_, err = fd.ReadAt(buf, off)
	wantErrno(t, "re-read of the changed chunk after eviction", err, syscall.EIO)
}

// A chunk changed on the host before the view was mounted stops the
// verify-ahead: it never reaches the app, and the good chunks before and
// after it still read.
func TestVerifyAheadTamperedChunk(t *testing.T) {
	const size = 3 << 20
	const bad = 1<<20 + 3*trustedfs.ChunkSize + 7
	f, _, content := elfFixture(t, size, func(host string) { patch(t, host, bad, []byte("evil")) })
	fd, err := os.Open(f.m("usr/lib/libfake.so"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	buf := make([]byte, 64)
	if _, err := fd.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	f.srv.aheads.wait()
	for _, off := range []int64{trustedfs.ChunkSize, bad - 7 - trustedfs.ChunkSize, bad + trustedfs.ChunkSize, size - 64} {
		if _, err := fd.ReadAt(buf, off); err != nil || !bytes.Equal(buf, content[off:off+64]) {
			t.Errorf("good chunk at %d: err %v, equal %v", off, err, bytes.Equal(buf, content[off:off+64]))
		}
	}
	_, err = fd.ReadAt(buf, bad-7)
	wantErrno(t, "read of the tampered chunk", err, syscall.EIO)
	whole, err := os.ReadFile(f.m("usr/lib/libfake.so"))
	wantErrno(t, "whole read", err, syscall.EIO)
	if bytes.Contains(whole, []byte("evil")) {
		t.Error("tampered bytes reached the app")
	}
}

// Files that do not start with the ELF magic are not verified ahead.
func TestVerifyAheadOnlyELF(t *testing.T) {
	f := newFixture(t, nil)
	fd, err := os.Open(f.m("usr/lib/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if _, err := fd.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	f.srv.aheads.wait()
	// Changed after the first read: with no verify-ahead, the chunk was
	// never cached and its READ fails.
	patch(t, f.h("usr/lib/big.bin"), 3<<20, []byte("x"))
	_, err = fd.ReadAt(make([]byte, 10), 3<<20)
	wantErrno(t, "read of a changed chunk of a data file", err, syscall.EIO)
}

// A READ of bytes that the verify-ahead has verified and is storing is
// answered with a copy of them, and only while they are published.
func TestFromAhead(t *testing.T) {
	const size = 6*trustedfs.ChunkSize + 77
	content := randBytes(size, 9)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	hf, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := trustedfs.NewSet(map[string][32]byte{p: sha256.Sum256(content)}).Open(p, hf)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	const cs = trustedfs.ChunkSize
	n := &fileNode{}
	if n.fromAhead(0, 10, size) != nil {
		t.Fatal("copy without verify-ahead")
	}
	a := newAheadState(size)
	n.ahead.Store(a)
	v, err := tf.ReadAhead(cs, size) // chunks 1.. to the end
	if err != nil {
		t.Fatal(err)
	}
	a.publish(cs, v)
	for _, c := range []struct {
		off  int64
		n    int
		want bool
	}{{cs + 10, 100, true}, {cs, 1 << 20, true}, {size - 10, 4096, true}, {0, 100, false}, {cs - 1, 10, false}, {size, 10, false}} {
		got := n.fromAhead(c.off, c.n, size)
		if (got != nil) != c.want {
			t.Errorf("fromAhead(%d, %d) = %v, want a copy: %v", c.off, c.n, got != nil, c.want)
			continue
		}
		if got != nil {
			if want := content[c.off:min(c.off+int64(c.n), size)]; !bytes.Equal(got.Bytes(), want) {
				t.Errorf("fromAhead(%d, %d): %d bytes differ from the file's %d", c.off, c.n, len(got.Bytes()), len(want))
			}
			got.Release()
		}
	}
	a.unpublish()
	v.Release()
	if n.fromAhead(cs+10, 100, size) != nil {
		t.Error("copy after unpublish")
	}
}
