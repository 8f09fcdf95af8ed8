package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func socketPair(t testing.TB) (conn, conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return conn{fd: fds[0]}, conn{fd: fds[1]}
}

func TestProtocolRoundTrip(t *testing.T) {
	a, b := socketPair(t)
	protocolRoundTrip(t, a, b)
}

// Nacre's end uses the netpoller (pollable): the same frames both ways,
// including a message larger than the socket buffer, which makes the
// sender wait for the reader.
func TestProtocolRoundTripPollable(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, fa, err := pollable(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	defer unix.Close(fds[1])
	if a.rc == nil {
		t.Fatal("pollable returned a conn without the netpoller")
	}
	protocolRoundTrip(t, a, conn{fd: fds[1]})
	protocolRoundTrip(t, conn{fd: fds[1]}, a)
}

func protocolRoundTrip(t *testing.T, a, b conn) {
	big := strings.Repeat("x", 300<<10) // larger than one send and the socket buffer
	want := message{Type: msgConfig, Config: &childConfig{
		Path: "/bin/sh", Args: []string{"sh", "-c", "true"}, Env: []string{"BIG=" + big},
		UID: 1000, GID: 1000, Mounts: []Mount{{Kind: "tmpfs", Path: "/tmp", Options: "size=1m"}},
	}}
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		err := a.send(want, int(f.Fd()))
		if err == nil {
			err = a.send(message{Type: msgExit, Code: 3})
		}
		done <- err
	}()
	got, fds, err := b.recv()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the message")
	}
	if len(fds) != 1 {
		t.Fatalf("got %d descriptors, want 1", len(fds))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fds[0], &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("passed descriptor is not /dev/null: %v", err)
	}
	unix.Close(fds[0])
	got, _, err = b.recv()
	if err != nil || got.Type != msgExit || got.Code != 3 {
		t.Errorf("second message = %+v, %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestProtocolTruncated: every cut of a frame is an error, and a clean end
// between frames is io.EOF.
func TestProtocolTruncated(t *testing.T) {
	body := []byte(`{"type":"exit","code":1}`)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	frame = append(frame, body...)
	for n := 0; n < len(frame); n++ {
		a, b := socketPair(t)
		if n > 0 {
			if _, err := unix.Write(a.fd, frame[:n]); err != nil {
				t.Fatal(err)
			}
		}
		unix.Shutdown(a.fd, unix.SHUT_WR)
		_, _, err := b.recv()
		if n == 0 && !errors.Is(err, io.EOF) {
			t.Errorf("empty stream: %v, want io.EOF", err)
		}
		if n > 0 && (err == nil || errors.Is(err, io.EOF)) {
			t.Errorf("frame cut at %d bytes: err %v, want a protocol error", n, err)
		}
	}
}

func TestProtocolRejects(t *testing.T) {
	for name, frame := range map[string][]byte{
		"too-large": binary.BigEndian.AppendUint32(nil, maxMessage+1),
		"not-json":  append(binary.BigEndian.AppendUint32(nil, 3), "{{{"...),
	} {
		a, b := socketPair(t)
		unix.Write(a.fd, frame)
		unix.Shutdown(a.fd, unix.SHUT_WR)
		if _, _, err := b.recv(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzProtocolRecv(f *testing.F) {
	body := []byte(`{"type":"config","config":{"path":"/bin/true","uid":1}}`)
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...))
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		a, b := socketPair(t)
		if len(data) > 0 {
			unix.Write(a.fd, data)
		}
		unix.Shutdown(a.fd, unix.SHUT_WR)
		for range 100 {
			if _, _, err := b.recv(); err != nil {
				return
			}
		}
	})
}

// primedConfig, which PID 1 decodes to build the decoder ahead, is a valid
// msgConfig that sets every field (so that the decoder of each is built).
func TestPrimedConfig(t *testing.T) {
	var m message
	if err := json.Unmarshal([]byte(primedConfig), &m); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != msgConfig || m.Config == nil || len(m.Config.Mounts) != 1 || string(b) != primedConfig {
		t.Errorf("primedConfig decodes to %s", b)
	}
}
