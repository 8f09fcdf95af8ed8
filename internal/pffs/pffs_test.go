package pffs

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/pf"
)

func TestRoundTrip(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	sizes := []int{0, 1, 3071, 3072, 3073, 4096, 100000, 396289, 3 << 20}
	if err := os.Mkdir(m.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		rel := filepath.Join("sub", "f"+itoa(n))
		if err := os.WriteFile(m.path(rel), pattern(n, 0), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	ents, err := os.ReadDir(m.path("sub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, n := range sizes {
		rel := filepath.Join("sub", "f"+itoa(n))
		if !slices.Contains(names, "f"+itoa(n)) {
			t.Errorf("readdir lacks %s: %v", rel, names)
		}
		st, err := os.Stat(m.path(rel))
		if err != nil || st.Size() != int64(n) || st.Mode().Perm() != 0o640 {
			t.Fatalf("stat %s = %v, %v; want size %d mode 0640", rel, st, err, n)
		}
		got, err := os.ReadFile(m.path(rel))
		if err != nil || !bytes.Equal(got, pattern(n, 0)) {
			t.Fatalf("read %s: %v (len %d)", rel, err, len(got))
		}
		hst, err := os.Stat(filepath.Join(m.host, rel))
		if err != nil || hst.Size() != int64(pf.EncryptedSize(uint64(n))) {
			t.Errorf("host size of %s = %v, %v; want %d", rel, hst.Size(), err, pf.EncryptedSize(uint64(n)))
		}
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &sfs); err != nil || sfs.Blocks == 0 {
		t.Errorf("statfs = %+v, %v", sfs, err)
	}
	if d, err := os.Open(m.path("sub")); err != nil || d.Sync() != nil {
		t.Errorf("fsync of a directory failed: %v", err)
	} else {
		d.Close()
	}
	m.unmount(t)
	for _, n := range sizes {
		rel := filepath.Join("sub", "f"+itoa(n))
		if got := hostRead(t, m, rel, key1); !bytes.Equal(got, pattern(n, 0)) {
			t.Errorf("host decrypt of %s differs", rel)
		}
	}
	noLeftovers(t, m.host)
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// The host holds files written by Gramine, bound to "pf/<name>": a mount
// whose uri is "file:pf" reads them.
func TestGramineVectors(t *testing.T) {
	host := filepath.Join(t.TempDir(), "pf")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "pf", "testdata", "gramine")
	files := map[string]int{
		"v2_k1_size0.pf": 0, "v2_k1_size1.pf": 1, "v2_k1_size3072.pf": 3072, "v2_k1_size3073.pf": 3073,
		"v2_k1_size12345.pf": 12345, "v2_k1_size100000.pf": 100000, "v2_k1_size396289.pf": 396289,
		"v2_k1_det_size396289.pf": 396289, "v2_k1_pfrename_new.pf": 5000,
		"v2_k1_crash_mid.pf": 12345, "v2_k1_crash_mid.pf.gramine.recovery": -1,
		"v2_k1_crash_before_meta.pf": 12345, "v2_k1_crash_before_meta.pf.gramine.recovery": -1,
		"v2_k1_renamed_b.pf": -2,
	}
	for name := range files {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(host, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := mountFS(t, Config{HostDir: host, BindDir: "pf", Path: "/data"})
	for name, n := range files {
		if n == -1 {
			if _, err := os.Stat(m.path(name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal %s visible: %v", name, err)
			}
			continue
		}
		got, err := os.ReadFile(m.path(name))
		if n == -2 {
			// Renamed on the host: bound to another path.
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("read %s = %v, want EIO", name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, pattern(n, 0)) {
			t.Errorf("read %s: %v, %d bytes", name, err, len(got))
		}
	}
	wantContains(t, m.log.String(), "v2_k1_renamed_b.pf")
	// Writing rewrites in format v2 that pf (and Gramine) read back.
	if err := os.WriteFile(m.path("v2_k1_size1.pf"), []byte("rewritten"), 0); err != nil {
		t.Fatal(err)
	}
	m.unmount(t)
	if got := hostRead(t, m, "v2_k1_size1.pf", key1); string(got) != "rewritten" {
		t.Errorf("rewritten file = %q", got)
	}
	noLeftovers(t, host)
}

func TestWrongKeyAndTamper(t *testing.T) {
	host := t.TempDir()
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(m.path(name), pattern(20000, 1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m.unmount(t)
	// Flip one byte of a data node of "b".
	raw, _ := os.ReadFile(filepath.Join(host, "b"))
	raw[2*pf.NodeSize+100] ^= 1
	os.WriteFile(filepath.Join(host, "b"), raw, 0o600)

	m = mountFS(t, Config{HostDir: host, Path: "/enc"})
	if got, err := os.ReadFile(m.path("a")); err != nil || !bytes.Equal(got, pattern(20000, 1)) {
		t.Fatalf("intact file: %v", err)
	}
	for range 2 { // consistently
		if _, err := os.ReadFile(m.path("b")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("tampered read = %v, want EIO", err)
		}
	}
	wantContains(t, m.log.String(), "level=ERROR")
	wantContains(t, m.log.String(), "file=/enc/b")
	if got, err := os.ReadFile(m.path("c")); err != nil || !bytes.Equal(got, pattern(20000, 1)) {
		t.Fatalf("other file after tamper: %v", err)
	}
	m.unmount(t)

	ks := keys.New()
	ks.Set("default", key2)
	m = mountFS(t, Config{HostDir: host, Path: "/enc", Keys: ks})
	for range 2 {
		if _, err := os.ReadFile(m.path("a")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("wrong-key read = %v, want EIO", err)
		}
		if _, err := os.Stat(m.path("a")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("wrong-key stat = %v, want EIO", err)
		}
	}
	wantContains(t, m.log.String(), "file=/enc/a")
	// New files under this key work; the unreadable one can be deleted.
	if err := os.WriteFile(m.path("new"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(m.path("a")); err != nil {
		t.Fatal(err)
	}
}

func TestMissingKey(t *testing.T) {
	host := t.TempDir()
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	os.WriteFile(m.path("f"), []byte("secret"), 0o600)
	m.unmount(t)

	ks := keys.New()
	m = mountFS(t, Config{HostDir: host, Path: "/enc", KeyName: "mykey", Keys: ks})
	if !slices.Contains(ks.Names(), "mykey") {
		t.Errorf("key name not declared: %v", ks.Names())
	}
	if ents, err := os.ReadDir(m.dir); err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Fatalf("readdir without key = %v, %v", ents, err)
	}
	for range 2 {
		if _, err := os.ReadFile(m.path("f")); !errors.Is(err, syscall.EACCES) {
			t.Fatalf("read without key = %v, want EACCES", err)
		}
		if _, err := os.Stat(m.path("f")); !errors.Is(err, syscall.EACCES) {
			t.Fatalf("stat without key = %v, want EACCES", err)
		}
	}
	if err := os.WriteFile(m.path("g"), nil, 0o600); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("create without key = %v, want EACCES", err)
	}
	log := m.log.String()
	wantContains(t, log, "key_name=mykey")
	wantContains(t, log, "/dev/attestation/keys/mykey")
	wantContains(t, log, "file=/enc/f")
	// Setting the key later (as /dev/attestation/keys would) just works.
	ks.Set("mykey", key1)
	if got, err := os.ReadFile(m.path("f")); err != nil || string(got) != "secret" {
		t.Fatalf("read after key set = %q, %v", got, err)
	}
}

func TestRename(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	os.Mkdir(m.path("d"), 0o755)
	os.WriteFile(m.path("a"), pattern(10000, 2), 0o600)
	os.WriteFile(m.path("d/b"), []byte("old b"), 0o600)
	// Rename while another open holds the file.
	h, err := os.OpenFile(m.path("a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("a"), m.path("d/b")); err != nil { // replaces b
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("HELLO"), 5000); err != nil {
		t.Fatal(err)
	}
	h.Close()
	want := pattern(10000, 2)
	copy(want[5000:], "HELLO")
	if got, err := os.ReadFile(m.path("d/b")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("renamed file: %v", err)
	}
	if _, err := os.Stat(m.path("a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old name still there: %v", err)
	}
	// A directory with files in it would need every file rebound: EXDEV.
	if err := os.Rename(m.path("d"), m.path("e")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename of a full directory = %v, want EXDEV", err)
	}
	os.Mkdir(m.path("empty"), 0o755)
	if err := os.Rename(m.path("empty"), m.path("e")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("d/b"), m.path("e/c")); err != nil {
		t.Fatal(err)
	}
	m.unmount(t)
	if got := hostRead(t, m, "e/c", key1); !bytes.Equal(got, want) {
		t.Fatal("host copy of the renamed file differs")
	}
	noLeftovers(t, m.host)
}

func TestTruncateAppend(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	p := m.path("f")
	os.WriteFile(p, pattern(500000, 3), 0o600)
	if err := os.Truncate(p, 4000); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 9000); err != nil { // grows with zeros
		t.Fatal(err)
	}
	want := append(pattern(4000, 3), make([]byte, 5000)...)
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatal("truncate: wrong content")
	}
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	if err := f.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(m.host, "f")); st.Size() != pf.NodeSize {
		t.Errorf("host size after ftruncate+fsync = %d, want %d", st.Size(), pf.NodeSize)
	}
	f.Close()
	// O_APPEND from two descriptors.
	a1, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	a2, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	a1.WriteString("one")
	a2.WriteString("two")
	a1.WriteString("three")
	a1.Close()
	a2.Close()
	want = append(pattern(100, 3), "onetwothree"...)
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatalf("append: %q", got[100:])
	}
	// O_TRUNC.
	os.WriteFile(p, []byte("short"), 0o600)
	m.unmount(t)
	if got := hostRead(t, m, "f", key1); string(got) != "short" {
		t.Fatalf("after O_TRUNC host has %q", got)
	}
}

// mmapScript maps the file MAP_SHARED, writes through the mapping, msyncs
// (mmap.flush is msync(MS_SYNC)), waits for the test to check the host
// file, writes again and unmaps; then it checks that MAP_PRIVATE writes stay
// private. It runs in its own process: a page fault on a FUSE file inside the
// serving process can deadlock the Go runtime (the faulting thread cannot be
// stopped for GC while the server goroutines that would answer are).
const mmapScript = `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
size = os.fstat(fd).st_size
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[4000:4012] = b"through mmap"
m.flush()
print("synced", flush=True)
sys.stdin.readline()
m[size-10:size] = b"lastbytes!"
m.close()
os.close(fd)
fd = os.open(sys.argv[1], os.O_RDONLY)
p = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
p[0:7] = b"private"
p.close()
os.close(fd)
print("done", flush=True)
`

func TestMmapShared(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	p := m.path("map")
	size := 3*4096 + 100
	os.WriteFile(p, pattern(size, 4), 0o600)
	want := pattern(size, 4)
	copy(want[4000:], "through mmap")

	cmd := exec.Command("python3", "-c", mmapScript, p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("python3: %v", err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); line != "synced\n" {
		t.Fatalf("python: %q %v", line, err)
	}
	// msync(MS_SYNC) reached the protected file: decrypt the host file now,
	// while the mapping is still there.
	if got := hostRead(t, m, "map", key1); !bytes.Equal(got, want) {
		t.Error("after msync the host file lacks the mmap write")
	}
	stdin.Write([]byte("go\n"))
	if line, err := r.ReadString('\n'); line != "done\n" {
		t.Fatalf("python: %q %v", line, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	copy(want[size-10:], "lastbytes!")
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatal("read after munmap differs (or a MAP_PRIVATE write leaked)")
	}
	m.unmount(t)
	if got := hostRead(t, m, "map", key1); !bytes.Equal(got, want) {
		t.Fatal("after munmap+close the host file lacks the mmap write")
	}
}

func TestHiddenNames(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	for _, name := range []string{"x" + pf.RecoverySuffix, tmpPrefix + "1"} {
		if err := os.WriteFile(m.path(name), nil, 0o600); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("create %s = %v, want ENOENT", name, err)
		}
	}
	// A host symlink is not part of the mount.
	os.Symlink("/etc/passwd", filepath.Join(m.host, "link"))
	if _, err := os.Lstat(m.path("link")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host symlink visible: %v", err)
	}
	if err := os.Symlink("x", m.path("s")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("symlink = %v, want EPERM", err)
	}
	os.Mkdir(m.path("d"), 0o700)
	os.WriteFile(filepath.Join(m.host, "d", "stale"+pf.RecoverySuffix), nil, 0o600)
	if err := os.Remove(m.path("d")); err != nil {
		t.Errorf("rmdir with a stale journal: %v", err)
	}
}

// A crash between rebinding a file and the host rename leaves it under its
// old name bound to the new one; the next open undoes the rebinding from
// the journal.
func TestInterruptedRename(t *testing.T) {
	host := t.TempDir()
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	os.WriteFile(m.path("old"), pattern(50000, 5), 0o600)
	m.unmount(t)
	// What nacre's rename does, stopped before the host rename.
	f, _ := os.OpenFile(filepath.Join(host, "old"), os.O_RDWR, 0)
	jr := &journal{path: filepath.Join(host, "old") + pf.RecoverySuffix}
	hb, _ := newHostBacking(f)
	p, err := pf.Open(hb, m.fs.boundPath("old"), key1, m.fs.pfOptions(jr, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename(m.fs.boundPath("new")); err != nil {
		t.Fatal(err)
	}
	jr.Sync()
	f.Close() // crash: no Close, journal left behind

	m = mountFS(t, Config{HostDir: host, Path: "/enc"})
	got, err := os.ReadFile(m.path("old"))
	if err != nil || !bytes.Equal(got, pattern(50000, 5)) {
		t.Fatalf("read after interrupted rename: %v", err)
	}
	wantContains(t, m.log.String(), "undid a rename")
	// A file renamed on the host (no journal) still fails.
	os.Rename(filepath.Join(host, "old"), filepath.Join(host, "moved"))
	if _, err := os.ReadFile(m.path("moved")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("host-renamed file = %v, want EIO", err)
	}
}

// A deleted file that is still open keeps its content; a new file under the
// same name (often the same host inode number) has only its own.
func TestDeleteWhileOpen(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	for i := range 20 {
		os.WriteFile(m.path("f"), pattern(9000, byte(i)), 0o600)
		old, err := os.OpenFile(m.path("f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 9000)
		old.ReadAt(buf, 0) // page cache filled
		if err := os.Remove(m.path("f")); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(m.path("f"), pattern(5000, byte(100+i)), 0o600)
		if got, _ := os.ReadFile(m.path("f")); !bytes.Equal(got, pattern(5000, byte(100+i))) {
			t.Fatalf("round %d: new file shows old content", i)
		}
		old.WriteAt([]byte("still mine"), 0)
		if n, _ := old.ReadAt(buf, 0); n != 9000 || string(buf[:10]) != "still mine" {
			t.Fatalf("round %d: deleted open file lost its content", i)
		}
		old.Close()
		if got, _ := os.ReadFile(m.path("f")); !bytes.Equal(got, pattern(5000, byte(100+i))) {
			t.Fatalf("round %d: closing the deleted file changed the new one", i)
		}
	}
	m.unmount(t)
	noLeftovers(t, m.host)
}

// Gramine's bound-path field holds 771 bytes; longer paths are refused.
func TestPathTooLong(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc"})
	dir := m.dir
	for i := range 4 {
		dir = filepath.Join(dir, strings.Repeat(string(rune('a'+i)), 200))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("create with a %d-byte bound path = %v, want ENAMETOOLONG", len(dir), err)
	}
}
