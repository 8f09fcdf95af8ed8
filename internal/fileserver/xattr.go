package fileserver

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// The view has no extended attributes. Answering ENOSYS once makes the kernel
// stop asking for the whole connection (the app gets EOPNOTSUPP), which
// matters for speed: without it every execve and every write costs a
// GETXATTR("security.capability") round trip.
type noXattr struct{}

func (noXattr) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (noXattr) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (noXattr) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOSYS
}

func (noXattr) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOSYS
}

var (
	_ fs.NodeGetxattrer    = (*fileNode)(nil)
	_ fs.NodeListxattrer   = (*dirNode)(nil)
	_ fs.NodeSetxattrer    = (*linkNode)(nil)
	_ fs.NodeRemovexattrer = (*fileNode)(nil)
)
