package verifiedcache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// shmDir returns a fresh mode-0700 directory on tmpfs.
func shmDir(t *testing.T) string {
	t.Helper()
	if !onTmpfs("/dev/shm") {
		t.Skip("/dev/shm is not tmpfs")
	}
	d, err := os.MkdirTemp("/dev/shm", "nacre-vc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func openStore(t *testing.T, dir string, max int64) *Store {
	t.Helper()
	s, err := Open(dir, max, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// put builds and publishes a copy of b.
func put(t *testing.T, s *Store, b []byte) [32]byte {
	t.Helper()
	sum := sha256.Sum256(b)
	bl, err := s.NewBuilder(sum, int64(len(b)))
	if err != nil || bl == nil {
		t.Fatalf("builder: %v %v", bl, err)
	}
	if done, err := bl.WriteAt(b, 0); err != nil || !done {
		t.Fatalf("write: %v %v", done, err)
	}
	if err := bl.Publish(); err != nil {
		t.Fatal(err)
	}
	return sum
}

func readCopy(t *testing.T, s *Store, sum [32]byte, size int64) []byte {
	t.Helper()
	f, err := s.Lookup(sum, size)
	if f == nil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenChecks(t *testing.T) {
	good := shmDir(t)
	if _, err := Open(good, 1<<20, nil); err != nil {
		t.Fatalf("good dir refused: %v", err)
	}
	disk := t.TempDir()
	if onTmpfs(disk) {
		t.Skip("TMPDIR is tmpfs")
	}
	os.Chmod(disk, 0o700)
	if _, err := Open(disk, 1<<20, nil); !errors.Is(err, ErrUnsafe) {
		t.Errorf("non-tmpfs dir: %v", err)
	}
	loose := shmDir(t)
	os.Chmod(loose, 0o755)
	if _, err := Open(loose, 1<<20, nil); !errors.Is(err, ErrUnsafe) {
		t.Errorf("mode 0755: %v", err)
	}
	link := filepath.Join(shmDir(t), "link")
	os.Symlink(good, link)
	if _, err := Open(link, 1<<20, nil); !errors.Is(err, ErrUnsafe) {
		t.Errorf("symlink: %v", err)
	}
	if os.Geteuid() == 0 {
		other := shmDir(t)
		os.Chown(other, 65534, 65534)
		if _, err := Open(other, 1<<20, nil); !errors.Is(err, ErrUnsafe) {
			t.Errorf("dir of another uid: %v", err)
		}
	}
}

func TestBuildPublishLookup(t *testing.T) {
	s := openStore(t, shmDir(t), 1<<30)
	b := bytes.Repeat([]byte("0123456789abcdef"), 3*pageSize/16+100) // 3 pages and a bit
	sum := sha256.Sum256(b)
	bl, _ := s.NewBuilder(sum, int64(len(b)))
	// Out of order, and a write covering only part of a page does not count.
	steps := []struct {
		off, end int
		done     bool
	}{
		{2 * pageSize, len(b), false},
		{0, pageSize / 2, false},
		{pageSize / 2, 2 * pageSize, false}, // page 0 only ever partly covered per write
		{0, pageSize, true},
	}
	for _, st := range steps {
		done, err := bl.WriteAt(b[st.off:st.end], int64(st.off))
		if err != nil || done != st.done {
			t.Fatalf("write %d-%d: done %v (want %v), %v", st.off, st.end, done, st.done, err)
		}
	}
	if got := readCopy(t, s, sum, int64(len(b))); got != nil {
		t.Fatal("copy visible before Publish")
	}
	if err := bl.Publish(); err != nil {
		t.Fatal(err)
	}
	if got := readCopy(t, s, sum, int64(len(b))); !bytes.Equal(got, b) {
		t.Fatalf("copy differs: %d bytes", len(got))
	}
	if got := readCopy(t, s, sum, int64(len(b))+1); got != nil {
		t.Error("copy of the wrong size accepted")
	}
}

func TestPublishIncomplete(t *testing.T) {
	dir := shmDir(t)
	s := openStore(t, dir, 1<<30)
	b := make([]byte, 3*pageSize)
	sum := sha256.Sum256(b)
	bl, _ := s.NewBuilder(sum, int64(len(b)))
	bl.WriteAt(b[:2*pageSize], 0)
	if err := bl.Publish(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("publish of an incomplete copy: %v", err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("store holds %d entries", len(names))
	}
}

func TestLookupRefusesForgedCopies(t *testing.T) {
	dir := shmDir(t)
	s := openStore(t, dir, 1<<30)
	b := []byte("the signed content")
	sum := sha256.Sum256(b)
	p := filepath.Join(dir, name(sum))
	forge := func(mode os.FileMode, uid int) {
		os.Remove(p)
		if err := os.WriteFile(p, []byte("evil content here!"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		if uid >= 0 {
			os.Chown(p, uid, uid)
		}
	}
	forge(0o666, -1)
	if got := readCopy(t, s, sum, int64(len(b))); got != nil {
		t.Error("group/other-writable copy accepted")
	}
	forge(0o400, -1)
	os.Link(p, filepath.Join(dir, "second-link"))
	if got := readCopy(t, s, sum, int64(len(b))); got != nil {
		t.Error("copy with two links accepted")
	}
	os.Remove(filepath.Join(dir, "second-link"))
	if os.Geteuid() == 0 {
		forge(0o400, 65534)
		if got := readCopy(t, s, sum, int64(len(b))); got != nil {
			t.Error("copy of another uid accepted")
		}
	}
	os.Remove(p)
	os.Symlink("/etc/hostname", p)
	if got := readCopy(t, s, sum, -1); got != nil {
		t.Error("symlink accepted")
	}
}

func TestTooLargeNotStored(t *testing.T) {
	s := openStore(t, shmDir(t), 64<<10)
	if bl, err := s.NewBuilder([32]byte{1}, 32<<10+1); bl != nil || err != nil {
		t.Errorf("file over half the budget: %v %v", bl, err)
	}
	if bl, _ := s.NewBuilder([32]byte{1}, 32<<10); bl == nil {
		t.Error("file of half the budget refused")
	} else {
		bl.Abort()
	}
}

func TestEvictLeastRecentlyUsed(t *testing.T) {
	dir := shmDir(t)
	s := openStore(t, dir, 48<<10) // two 20 KiB copies fit, three do not
	files := [][]byte{bytes.Repeat([]byte{1}, 20<<10), bytes.Repeat([]byte{2}, 20<<10), bytes.Repeat([]byte{3}, 20<<10)}
	sums := make([][32]byte, 3)
	old := time.Now().Add(-time.Hour)
	for i, b := range files[:2] {
		sums[i] = put(t, s, b)
		os.Chtimes(filepath.Join(dir, name(sums[i])), old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute))
	}
	// A hit makes copy 0 the most recently used.
	if readCopy(t, s, sums[0], 20<<10) == nil {
		t.Fatal("copy 0 missing")
	}
	sums[2] = put(t, s, files[2])
	if readCopy(t, s, sums[1], 20<<10) != nil {
		t.Error("least recently used copy kept")
	}
	for _, i := range []int{0, 2} {
		if readCopy(t, s, sums[i], 20<<10) == nil {
			t.Errorf("copy %d evicted", i)
		}
	}
	if s.Evicted.Load() != 1 {
		t.Errorf("evicted %d", s.Evicted.Load())
	}
	if n, total, _ := s.Usage(); n != 2 || total > s.Max() {
		t.Errorf("usage %d copies, %d bytes", n, total)
	}
}

func TestConcurrentPublish(t *testing.T) {
	dir := shmDir(t)
	b := bytes.Repeat([]byte("concurrent"), 10000)
	sum := sha256.Sum256(b)
	var wg sync.WaitGroup
	for range 8 {
		// Separate Stores, as separate nacre runs would have.
		s := openStore(t, dir, 1<<30)
		wg.Go(func() {
			bl, err := s.NewBuilder(sum, int64(len(b)))
			if err != nil {
				t.Error(err)
				return
			}
			for off := 0; off < len(b); off += 3 * pageSize {
				bl.WriteAt(b[off:min(off+3*pageSize, len(b))], int64(off))
			}
			if err := bl.Publish(); err != nil {
				t.Error(err)
			}
			if f, _ := s.Lookup(sum, int64(len(b))); f != nil {
				f.Close()
			}
		})
	}
	wg.Wait()
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != name(sum) {
		t.Fatalf("store holds %v", names)
	}
	if got := readCopy(t, openStore(t, dir, 1<<30), sum, int64(len(b))); !bytes.Equal(got, b) {
		t.Error("published copy differs")
	}
}

func TestPrepare(t *testing.T) {
	base := shmDir(t)
	dir := filepath.Join(base, "nacre-x", "verified")
	fd, err := prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := Open(dir, 1<<20, nil); err != nil {
		t.Errorf("prepared dir refused: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	squat := filepath.Join(base, "nacre-y")
	os.Mkdir(squat, 0o777)
	os.Chown(squat, 65534, 65534)
	if _, err := prepare(filepath.Join(squat, "verified")); !errors.Is(err, ErrUnsafe) {
		t.Errorf("squatted parent: %v", err)
	}
}

func TestDefaultDirAndSize(t *testing.T) {
	t.Setenv(EnvDir, "off")
	if _, ok := DefaultDir(); ok {
		t.Error("off not honoured")
	}
	t.Setenv(EnvDir, "/x/y")
	if d, ok := DefaultDir(); !ok || d != "/x/y" {
		t.Errorf("override: %q %v", d, ok)
	}
	for in, want := range map[string]int64{"4096": 4096, "64K": 64 << 10, "3m": 3 << 20, "2G": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "0", "1T", "x"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
