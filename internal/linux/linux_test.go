package linux

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRetry(t *testing.T) {
	n := 0
	err := retry(func() error {
		n++
		if n < 3 {
			return unix.EINTR
		}
		return unix.EPERM
	})
	if n != 3 || err != unix.EPERM {
		t.Errorf("retry: %d calls, err %v; want 3 calls and EPERM", n, err)
	}
}

func TestErrorsNamePath(t *testing.T) {
	err := Mount("none", "/nonexistent/nacre-target", "tmpfs", 0, "")
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "mount" || pe.Path != "/nonexistent/nacre-target" {
		t.Fatalf("Mount error %#v, want *os.PathError for mount /nonexistent/nacre-target", err)
	}
	if _, err := Open("/nonexistent/nacre-file", unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Open error %v, want ENOENT", err)
	}
}

func TestCloseRangeOnExec(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0) // no CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := CloseRangeOnExec(uint(fds[0])); err != nil {
		t.Skip(err) // close_range needs Linux 5.11
	}
	for _, fd := range fds {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: flags %#x, %v; want FD_CLOEXEC", fd, flags, err)
		}
	}
}

func TestSendRecvFds(t *testing.T) {
	fds, err := Socketpair(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fds[0])
	defer Close(fds[1])
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Sendmsg(fds[0], []byte("x"), int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	n, got, err := Recvmsg(fds[1], buf)
	if err != nil || n != 1 || len(got) != 1 {
		t.Fatalf("Recvmsg = %d, %v, %v", n, got, err)
	}
	Close(got[0])
}
