package shield

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

type serveFunc func(dev *os.File) (*fuse.Server, error)

// serving adapts a filesystem whose Serve only creates the server (pffs,
// attestfs) to the sandbox's contract: serve in the background on a
// descriptor of our own (the sandbox closes dev when we return) and return
// once the kernel's INIT was answered.
func serving(what string, serve serveFunc) serveFunc {
	return func(dev *os.File) (*fuse.Server, error) {
		fd, err := unix.FcntlInt(dev.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fmt.Errorf("%s: dup /dev/fuse: %w", what, err)
		}
		own := os.NewFile(uintptr(fd), "/dev/fuse")
		srv, err := serve(own)
		if err != nil {
			own.Close()
			return nil, err
		}
		keepAliveMu.Lock()
		keepAlive = append(keepAlive, own) // go-fuse may use its number
		keepAliveMu.Unlock()
		go srv.Serve()
		done := make(chan error, 1)
		go func() { done <- srv.WaitMount() }()
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("%s: FUSE INIT: %w", what, err)
			}
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("%s: no FUSE INIT within 10 s", what)
		}
		return srv, nil
	}
}

// keepAlive keeps descriptors handed to go-fuse from being finalized.
var (
	keepAliveMu sync.Mutex
	keepAlive   []*os.File
)
