package fileserver

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadDirFd lists a directory larger than one getdents buffer, with
// every file type, and compares with os.ReadDir.
func TestReadDirFd(t *testing.T) {
	dir := t.TempDir()
	want := map[string]uint32{}
	long := strings.Repeat("x", 200)
	for i := range 400 { // ~90 KiB of dirents: several getdents calls
		name := fmt.Sprintf("f%03d-%s", i, long)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = unix.S_IFREG
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	want["sub"] = unix.S_IFDIR
	os.Symlink("sub", filepath.Join(dir, "link"))
	want["link"] = unix.S_IFLNK
	os.Symlink("f000", filepath.Join(dir, "trustedlink"))
	want["trustedlink"] = unix.S_IFREG
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	want["fifo"] = unix.S_IFIFO

	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got, errno := readDirFd(fd, func(name string) uint32 {
		if name == "trustedlink" {
			return unix.S_IFREG
		}
		return unix.S_IFLNK
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for _, e := range got {
		if m, ok := want[e.Name]; !ok || m != e.Mode {
			t.Errorf("%q: mode %o, want %o (listed: %v)", e.Name, e.Mode, m, ok)
		}
	}
	osEnts, _ := os.ReadDir(dir)
	var a, b []string
	for _, e := range osEnts {
		a = append(a, e.Name())
	}
	for _, e := range got {
		b = append(b, e.Name)
	}
	sort.Strings(b)
	if strings.Join(a, "/") != strings.Join(b, "/") {
		t.Error("names differ from os.ReadDir")
	}
}

// TestParseDirentsMalformed: a record length that does not fit is an
// error, not a panic or a loop.
func TestParseDirentsMalformed(t *testing.T) {
	for _, reclen := range []uint16{0, 5, 18, 1000} {
		b := make([]byte, 24)
		binary.NativeEndian.PutUint16(b[16:], reclen)
		b[18] = unix.DT_REG
		copy(b[19:], "abc")
		if _, errno := parseDirents(-1, b, nil, nil); errno != syscall.EIO {
			t.Errorf("reclen %d: errno %v, want EIO", reclen, errno)
		}
	}
	// A well-formed record without a NUL still parses (name up to reclen).
	b := make([]byte, 24)
	binary.NativeEndian.PutUint16(b[16:], 24)
	b[18] = unix.DT_DIR
	copy(b[19:], "abcde")
	got, errno := parseDirents(-1, b, nil, nil)
	if errno != 0 || len(got) != 1 || got[0].Name != "abcde" || got[0].Mode != unix.S_IFDIR {
		t.Errorf("got %v %v", got, errno)
	}
}
