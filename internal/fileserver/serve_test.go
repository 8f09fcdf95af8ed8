package fileserver

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// TestServePremounted does what the sandbox does: open /dev/fuse, mount it
// with fd=N, and hand the fd to Serve.
func TestServePremounted(t *testing.T) {
	needFUSE(t)
	f := newFixture(t, nil) // host tree and config; its own mount is unused here
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(t.TempDir(), "served")
	os.Mkdir(mnt, 0o755)
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", dev.Fd())
	if err := unix.Mount("nacre", mnt, "fuse.nacre", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Fatalf("mount: %v", err)
	}
	srv, err := f.srv.Serve(dev)
	dev.Close() // Serve keeps its own copy
	if err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
		t.Fatal(err)
	}
	noPoll(t, filepath.Join(mnt, "usr/bin/tool"))
	got, err := os.ReadFile(filepath.Join(mnt, "usr/bin/tool"))
	if err != nil || string(got) != "#!/bin/sh\necho tool\n" {
		t.Errorf("read through the served fd: %q %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "data/served.txt"), []byte("ok"), 0o644); err != nil {
		t.Errorf("write through the served fd: %v", err)
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("server did not stop after unmount")
	}
}

// TestOptions pins the FUSE settings the integrity argument relies on.
func TestOptions(t *testing.T) {
	o := (&Server{}).options()
	switch {
	case o.DisabledCapabilities&fuse.CAP_PASSTHROUGH == 0:
		t.Error("passthrough not disabled")
	case !o.ExplicitDataCacheControl:
		t.Error("auto_inval_data possible")
	case o.MaxWrite != maxRequest || o.MaxReadAhead != 1<<20:
		t.Errorf("MaxWrite %d", o.MaxWrite)
	case *o.EntryTimeout < time.Hour || *o.AttrTimeout < time.Hour || *o.NegativeTimeout < time.Hour:
		t.Error("short cache timeouts")
	case len(o.Options) != 1 || o.Options[0] != "default_permissions":
		t.Errorf("mount options %v", o.Options)
	}
}

// noPoll does what go-fuse's Mount does for its own mounts: it makes the
// kernel send one POLL, from a blocking poll(2) that lets the Go scheduler
// run the server, so that the kernel learns that the view does not support
// poll before os.Open registers a file with epoll (which would wait for the
// POLL answer while holding the only P under GOMAXPROCS=1).
func noPoll(t *testing.T, file string) {
	t.Helper()
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
}
