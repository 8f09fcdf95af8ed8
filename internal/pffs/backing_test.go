package pffs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/pf"
)

// Runs without root: the deferred shrink of hostBacking.
func TestHostBackingDeferredShrink(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "h"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hb, _ := newHostBacking(f)
	hb.WriteAt(bytes.Repeat([]byte{7}, 3*pf.NodeSize), 0)
	if err := hb.Truncate(pf.NodeSize); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != 3*pf.NodeSize {
		t.Fatalf("shrink cut the host file at once (%d)", st.Size())
	}
	if n, _ := hb.Size(); n != pf.NodeSize || !hb.pendingShrink() {
		t.Fatalf("logical size %d", n)
	}
	buf := make([]byte, 2*pf.NodeSize)
	if n, err := hb.ReadAt(buf, 0); n != pf.NodeSize || err != io.EOF {
		t.Fatalf("read past the logical end: %d %v", n, err)
	}
	// Growing again reads zeros, not the stale tail.
	if err := hb.Truncate(2 * pf.NodeSize); err != nil {
		t.Fatal(err)
	}
	hb.ReadAt(buf, 0)
	if !bytes.Equal(buf[pf.NodeSize:], make([]byte, pf.NodeSize)) {
		t.Fatal("stale bytes after regrow")
	}
	if err := hb.commit(); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != 2*pf.NodeSize || hb.pendingShrink() {
		t.Fatalf("after commit host size %d", st.Size())
	}
}

// Runs without root: the journal drops all-zero records, batches writes and
// round-trips through pf's recovery.
func TestJournalSkipsAbsentNodes(t *testing.T) {
	dir := t.TempDir()
	j := &journal{path: filepath.Join(dir, "f"+pf.RecoverySuffix)}
	rec := func(phys uint64, fill byte) []byte {
		r := make([]byte, journalRecord)
		binary.LittleEndian.PutUint64(r, phys)
		if fill != 0 {
			for i := 8; i < len(r); i++ {
				r[i] = fill
			}
		}
		return r
	}
	if err := j.Truncate(0); err != nil {
		t.Fatal(err)
	}
	for i, r := range [][]byte{rec(5, 1), rec(6, 0), rec(7, 0), rec(1, 2), rec(0, 3)} {
		if _, err := j.WriteAt(r, int64(i)*journalRecord); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(j.path); err == nil {
		t.Fatal("journal written before Sync")
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(j.path)
	want := append(append(rec(5, 1), rec(1, 2)...), rec(0, 3)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("journal holds %d bytes, want the 3 non-empty records", len(got))
	}
	if err := j.close(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.path); !os.IsNotExist(err) {
		t.Fatal("journal not removed at close")
	}
}

// Runs without root: what the application sees for each failure.
func TestErrnoMapping(t *testing.T) {
	ks := keys.New()
	var logs logBuf
	fsys, err := New(Config{HostDir: t.TempDir(), Path: "/data", KeyName: "k", Keys: ks,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.key("f"); fsys.errno("open", "f", err) != syscall.EACCES {
		t.Error("missing key is not EACCES")
	}
	wrong := &pf.Error{Op: "open", Path: "x", Node: 0, Kind: pf.ErrWrongKey}
	tampered := &pf.Error{Op: "read", Path: "x", Node: 3, Kind: pf.ErrTampered}
	for _, e := range []error{wrong, tampered, &pf.Error{Kind: pf.ErrPathMismatch}, &pf.Error{Kind: pf.ErrRecoveryNeeded}} {
		if got := fsys.errno("read", "g", e); got != syscall.EIO {
			t.Errorf("%v -> %v, want EIO", e, got)
		}
	}
	if got := fsys.errno("write", "g", &pf.Error{Op: "flush", Err: &os.PathError{Op: "write", Path: "h", Err: syscall.ENOSPC}}); got != syscall.ENOSPC {
		t.Errorf("ENOSPC -> %v", got)
	}
	if got := fsys.errno("write", "g", errors.New("odd")); got != syscall.EIO {
		t.Errorf("unknown error -> %v", got)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 3 { // once per file, plus the odd one
		t.Errorf("%d error lines:\n%s", n, logs.String())
	}
	if _, err := New(Config{HostDir: filepath.Join(t.TempDir(), "missing"), Keys: ks}); err == nil {
		t.Error("New accepted a missing host directory")
	}
}

func TestBindDir(t *testing.T) {
	for uri, want := range map[string]string{"file:enc": "enc", "file:/data/x/": "/data/x/", "file:./a/../b": "./a/../b"} {
		if got, err := BindDir(uri); err != nil || got != want {
			t.Errorf("BindDir(%q) = %q, %v", uri, got, err)
		}
	}
	for _, bad := range []string{"", "file:", "dev:/x", "/data"} {
		if _, err := BindDir(bad); err == nil {
			t.Errorf("BindDir(%q) accepted", bad)
		}
	}
	f := &FS{bindDir: "./a/../b/"}
	if got := f.boundPath("c/d"); got != "b/c/d" {
		t.Errorf("boundPath = %q, want b/c/d", got)
	}
	f.bindDir = "/abs"
	if got := f.boundPath(""); got != "/abs" {
		t.Errorf("boundPath(root) = %q", got)
	}
}
