package fileserver

import (
	"fmt"
	"os"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// maxRequest bounds READ and WRITE requests (see options).
const maxRequest = 128 << 10

// options are the FUSE settings every view is served with; see "Caching" in
// the package doc for why.
func (s *Server) options() *fs.Options {
	hour := time.Hour
	mopts := []string{"default_permissions"}
	if s.noDefaultPermissions {
		mopts = nil
	}
	o := &fs.Options{
		EntryTimeout:    &hour,
		AttrTimeout:     &hour,
		NegativeTimeout: &hour,
		// Modes are chosen by fillAttr; 0 is meaningful (denied files).
		NullPermissions: true,
		// Small inode numbers, like a disk filesystem's; the root's is 1
		// (0 would read as "no inode" to readdir-based tools).
		FirstAutomaticIno: 2,
		RootStableAttr:    &fs.StableAttr{Ino: 1},
		MountOptions: fuse.MountOptions{
			FsName: "nacre",
			Name:   "nacre",
			// READs and WRITEs of at most 128 KiB (max_pages 32). The
			// kernel splits a readahead window (1 MiB, see
			// internal/sandbox/readahead.go) into such READs, sent
			// together: a sequential reader keeps 1 MiB in flight, both
			// cores verify, and a page fault in a program not yet
			// verified ahead waits only for the 128 KiB READ holding its
			// page, not for a whole 1 MiB read-around. Measured:
			// python3 -V first start ~1 ms faster; 512 MiB first read
			// unchanged (~1.1 GB/s either way).
			MaxWrite:     maxRequest,
			MaxReadAhead: 1 << 20,
			// No auto_inval_data: a host mtime change must not flush pages
			// that were verified when they entered the cache.
			ExplicitDataCacheControl: true,
			// READDIRPLUS would look up (and classify, and warn about) every
			// entry of every listed directory.
			DisableReadDirPlus: true,
			// Symlink targets stay in the page cache: exec paths cross
			// /bin, /lib64 and the ld.so link every time.
			EnableSymlinkCaching: true,
			Options:              mopts,
		},
	}
	if !s.passthroughWanted() {
		// Passthrough is only ever to verified copies in guest memory
		// (open.go), never to a host fd; without them, it stays off.
		o.MountOptions.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	if s.stats != nil {
		o.MountOptions.Debug, o.MountOptions.Logger = true, s.stats
	}
	return o
}

func (s *Server) root() fs.InodeEmbedder {
	_, isMount := s.mountAt["/"]
	return &dirNode{s: s, synthetic: !isMount}
}

// Serve serves the view on fuseDev, a /dev/fuse fd that the sandbox has
// already mounted (so no mount happens here: go-fuse's "/dev/fd/N" form). The
// mount must have default_permissions: the access decisions rely on the
// kernel's permission checks (see the package doc). It
// dups the fd, so the caller may close fuseDev. Requests are served in the
// background; Serve returns once the kernel's INIT request was answered, or
// with an error if it did not come within 10 s. Unmount or
// (*fuse.Server).Wait end the service.
func (s *Server) Serve(fuseDev *os.File) (*fuse.Server, error) {
	fd, err := unix.FcntlInt(fuseDev.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("serve view: dup /dev/fuse fd: %w", err)
	}
	// go-fuse's read loop expects a blocking fd; an fd received from
	// elsewhere (or registered with Go's poller) may be non-blocking, which
	// would make the loop spin on EAGAIN.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("serve view: make /dev/fuse fd blocking: %w", err)
	}
	s.openMode.Store(s.passthroughWanted())
	raw := s.rawFS(s.options())
	srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", fd), &s.options().MountOptions)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("serve view on fd %d: %w", fd, err)
	}
	go srv.Serve()
	done := make(chan error, 1)
	go func() { done <- srv.WaitMount() }()
	select {
	case err := <-done:
		if err != nil {
			return srv, fmt.Errorf("serve view: FUSE INIT: %w", err)
		}
		s.afterInit(srv)
	case <-time.After(10 * time.Second):
		return srv, fmt.Errorf("serve view: no FUSE INIT within 10 s; was the fd mounted?")
	}
	return srv, nil
}

// Mount mounts the view on dir itself (needs root or fusermount) and serves
// it: for tests and debugging, where no sandbox mounts it.
func (s *Server) Mount(dir string) (*fuse.Server, error) {
	opts := s.options()
	s.openMode.Store(s.passthroughWanted())
	srv, err := fuse.NewServer(s.rawFS(opts), dir, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount view on %s: %w", dir, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, fmt.Errorf("mount view on %s: %w", dir, err)
	}
	s.afterInit(srv)
	return srv, nil
}

// rawFS is the node tree behind the wrappers that answer OPENDIR
// (opendir.go) and watch OPEN replies (open.go).
func (s *Server) rawFS(opts *fs.Options) fuse.RawFileSystem {
	return &openWatch{RawFileSystem: newNoOpendir(fs.NewNodeFS(s.root(), opts)), s: s}
}
