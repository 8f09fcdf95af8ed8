package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nacre-tee/nacre/internal/linux"
)

// The parent (Run, on the host) and the child (PID 1 of the new namespaces)
// talk over an inherited AF_UNIX stream socket (fd 3 in the child). Each
// message is a 4-byte big-endian length and a JSON message; descriptors
// travel with the length as SCM_RIGHTS. The configuration crosses the socket,
// never argv, so `ps` inside the sandbox shows no host paths.
//
//	parent (host)                              child (PID 1)
//	start /proc/self/exe childArg  ───────►   (namespaces, ids not mapped yet;
//	  (Start, before the manifest is           waits for msgConfig)
//	  verified)
//	write uid_map, setgroups "deny",
//	  gid_map (RunChild, mapIDs)
//	msgConfig{config}              ───────►   staging tmpfs, root bind
//	                          (FUSE root) ◄──  msgFUSE{0} + SCM_RIGHTS(/dev/fuse)
//	go ServeRoot(fd)                          /proc, /dev staged meanwhile:
//	                                     ◄──  msgFUSE{k} + SCM_RIGHTS  (MountFUSE k-1
//	go Serve(fd)                                under /dev, e.g. /dev/attestation)
//	msgFUSEReady{k}, msgFUSEReady{0}  ─────►   (each once served, in any order)
//	                                          mounts on the root, move /proc and
//	                                          /dev in, pivot_root, sethostname;
//	                                          rlimits, caps, seccomp; fork+exec
//	                                          app (exec.go)
//	                                     ◄──  msgStarted | msgError{error}
//	                                     ◄──  msgDenied{syscall,pid}  (LogDenied, any number)
//	signals → kill(child)                     signals → kill(app)
//	                                     ◄──  msgStopped{signal}  (Foreground: the app stopped)
//	take terminal; stop itself;
//	on SIGCONT: msgContinue{fg?}   ───────►   give terminal if fg; SIGCONT app
//	                                     ◄──  msgExit{code}; child exits
//
// msgFUSE and msgFUSEReady carry a code: 0 for the root, k for
// Config.Mounts[k-1]. Other FUSE mounts (encrypted ones) are mounted one at a
// time, each after the previous one's msgFUSEReady. The root is answered
// only once the trusted set is built (shield); nothing of the application
// runs before every msgFUSEReady it needs has arrived.
// Any setup failure in the child is sent as msgError naming the step and
// path before the application starts; the child then exits. If the child
// dies without msgExit, Run reports how it died.
const (
	msgConfig    = "config"
	msgFUSE      = "fuse"
	msgFUSEReady = "fuse-ready"
	msgStarted   = "started"
	msgError     = "error"
	msgDenied    = "denied"
	msgExit      = "exit"
	msgStopped   = "stopped"
	msgContinue  = "continue"

	// Between PID 1 and stage 3 (see exec.go): msgConfig, then from stage 3
	// msgListener + SCM_RIGHTS(seccomp listener) when LogDenied, or
	// msgError; end of stream means the application was exec'd.
	msgListener = "seccomp-listener"
)

// maxMessage bounds a message (the config with its environment is the largest).
const maxMessage = 16 << 20

type message struct {
	Type    string       `json:"type"`
	Config  *childConfig `json:"config,omitempty"`
	Error   string       `json:"error,omitempty"`
	Code    int          `json:"code,omitempty"`
	Syscall string       `json:"syscall,omitempty"`
	Pid     int          `json:"pid,omitempty"`
}

// childConfig is the part of Config that crosses to the child.
type childConfig struct {
	Path                 string   `json:"path"`
	Args                 []string `json:"args"`
	Env                  []string `json:"env"`
	Dir                  string   `json:"dir"`
	UID                  uint32   `json:"uid"`
	GID                  uint32   `json:"gid"`
	Hostname             string   `json:"hostname,omitempty"`
	FUSE                 bool     `json:"fuse,omitempty"`
	RootDir              string   `json:"root_dir,omitempty"`
	Mounts               []Mount  `json:"mounts,omitempty"`
	NoFiles              uint64   `json:"nofiles,omitempty"`
	StackSize            uint64   `json:"stack_size,omitempty"`
	DisallowSubprocesses bool     `json:"disallow_subprocesses,omitempty"`
	DisableASLR          bool     `json:"disable_aslr,omitempty"`
	LogDenied            bool     `json:"log_denied,omitempty"`
	// Foreground: stdin is nacre's controlling terminal and nacre is in
	// its foreground process group; the application gets its own process
	// group and the terminal (terminal.go).
	Foreground bool `json:"foreground,omitempty"`
}

// conn is one end of the socket. With rc (nacre's end, see pollable), a
// receive or send that would block waits in Go's netpoller instead of in
// the kernel: a goroutine parked in recvmsg keeps its P in a syscall, and a
// goroutine it wakes (Run's loop) then waits for sysmon to take that P back,
// up to 10 ms, while the other P builds the trusted set.
type conn struct {
	fd int
	rc syscall.RawConn
}

// pollable returns a conn for fd that uses the netpoller, and the file
// that now owns fd (close it instead of fd).
func pollable(fd int) (conn, *os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return conn{}, nil, fmt.Errorf("sandbox: socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "sandbox-socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return conn{}, nil, fmt.Errorf("sandbox: socket: %w", err)
	}
	return conn{fd: fd, rc: rc}, f, nil
}

func (c conn) recvmsg(p []byte) (n int, fds []int, err error) {
	if c.rc == nil {
		return linux.Recvmsg(c.fd, p)
	}
	if rerr := c.rc.Read(func(fd uintptr) bool {
		n, fds, err = linux.Recvmsg(int(fd), p)
		return !errors.Is(err, unix.EAGAIN)
	}); rerr != nil {
		return 0, nil, rerr
	}
	return n, fds, err
}

func (c conn) sendmsg(p []byte, fds ...int) (n int, err error) {
	if c.rc == nil {
		return linux.Sendmsg(c.fd, p, fds...)
	}
	if werr := c.rc.Write(func(fd uintptr) bool {
		n, err = linux.Sendmsg(int(fd), p, fds...)
		return !errors.Is(err, unix.EAGAIN)
	}); werr != nil {
		return 0, werr
	}
	return n, err
}

func (c conn) send(m message, fds ...int) error {
	frame, err := encode(m)
	if err != nil {
		return err
	}
	return c.sendFrame(frame, fds...)
}

// syncSendMax bounds a frame sent without a goroutine when the peer may not
// be reading yet: well below an AF_UNIX stream socket's default buffer
// (~200 KiB), so the send does not block.
const syncSendMax = 64 << 10

// encode returns m's frame: length and JSON.
func encode(m message) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	return append(frame, body...), nil
}

// sendFrame sends an encoded frame, with fds on its first byte.
func (c conn) sendFrame(frame []byte, fds ...int) error {
	// The descriptors ride on the first send; a stream socket delivers
	// them with the first byte of the frame.
	for len(frame) > 0 {
		n, err := c.sendmsg(frame[:min(len(frame), 1<<16)], fds...)
		if err != nil {
			return err
		}
		frame, fds = frame[n:], nil
	}
	return nil
}

// recv reads one message; io.EOF means the other end closed cleanly between
// messages.
func (c conn) recv() (message, []int, error) {
	var hdr [4]byte
	n, fds, err := c.recvmsg(hdr[:])
	if err != nil {
		return message{}, nil, err
	}
	if n == 0 {
		return message{}, nil, io.EOF
	}
	if err := c.readFull(hdr[n:]); err != nil {
		return message{}, fds, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxMessage {
		return message{}, fds, fmt.Errorf("sandbox: protocol message of %d bytes is too large", size)
	}
	body := make([]byte, size)
	if err := c.readFull(body); err != nil {
		return message{}, fds, err
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return message{}, fds, fmt.Errorf("sandbox: bad protocol message: %w", err)
	}
	return m, fds, nil
}

func (c conn) readFull(p []byte) error {
	for len(p) > 0 {
		n, fds, err := c.recvmsg(p)
		for _, fd := range fds {
			linux.Close(fd) // descriptors only come with a header
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("sandbox: protocol message cut short")
		}
		p = p[n:]
	}
	return nil
}
