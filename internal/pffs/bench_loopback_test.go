package pffs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// The same sequential workloads through go-fuse's loopback filesystem
// mounted with the encrypted mount's options (writeback cache, 1 MiB
// WRITEs, no splice, 4 MiB readahead): FUSE with every copy the encrypted
// mount makes but no cryptography. It is the ceiling an encrypted mount can
// reach on this machine, whatever pf does, so bench/pf.sh prints it next to
// the encrypted numbers.

func BenchmarkLoopbackSequentialWrite(b *testing.B) {
	seqWriteBench(b, filepath.Join(mountLoopback(b), "seq"))
}

func BenchmarkLoopbackSequentialRead(b *testing.B) {
	seqReadBench(b, filepath.Join(mountLoopback(b), "seq"))
}

// mountLoopback mounts go-fuse's loopback of a benchmark host dir the way
// mountDev mounts an encrypted one and returns the mount point.
func mountLoopback(b *testing.B) string {
	skipUnlessRoot(b)
	root, err := gofs.NewLoopbackRoot(benchHostDir(b))
	if err != nil {
		b.Fatal(err)
	}
	opts := (&FS{}).Options()
	opts.MountOptions.FsName, opts.MountOptions.Name = "nacre-loop", "nacre-loop"
	dir := b.TempDir()
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	mo := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", dev.Fd())
	if err := unix.Mount("nacre-loop", dir, "fuse.nacre-loop", unix.MS_NOSUID|unix.MS_NODEV, mo); err != nil {
		dev.Close()
		b.Fatal(err)
	}
	srv, err := fuse.NewServer(gofs.NewNodeFS(root, opts), fmt.Sprintf("/dev/fd/%d", dev.Fd()), &opts.MountOptions)
	if err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		b.Fatal(err)
	}
	go srv.Serve()
	_ = RaiseReadahead(dir, ReadaheadKB)
	b.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
		srv.Wait()
		// go-fuse took dev's descriptor by number (and closes it): dev
		// must not be collected before, its finalizer would close it.
		runtime.KeepAlive(dev)
	})
	return dir
}
