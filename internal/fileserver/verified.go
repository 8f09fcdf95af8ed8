package fileserver

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/nacre-tee/nacre/internal/trustedfs"
	"github.com/nacre-tee/nacre/internal/verifiedcache"
)

// verifiedReply is the reply to a READ of a trusted file: the verified bytes
// in trustedfs's buffer, written to /dev/fuse with one writev (go-fuse takes
// any ReadResult with a Slices method that way) and released by go-fuse's
// Done after the write. A ReadResultData reply would instead go through
// go-fuse's splice attempt first, which fetches a pipe, resizes it (failing
// and logging for 1 MiB replies), writes the header into it and discards it:
// several syscalls per READ for nothing, as only fd results can splice.
// Nothing here splices or hands the kernel a host fd.
//
// With a copy under construction (b, copy.go), Done hands the bytes to the
// copy writer instead of releasing them.
type verifiedReply struct {
	v   *trustedfs.Verified
	n   *fileNode
	b   *verifiedcache.Builder
	off int64
}

var _ fuse.ReadResult = (*verifiedReply)(nil)

func (r *verifiedReply) Size() int { return len(r.v.Bytes()) }

func (r *verifiedReply) Bytes(buf []byte) ([]byte, fuse.Status) { return r.v.Bytes(), fuse.OK }

// Slices makes go-fuse write the reply with writev, without a copy.
func (r *verifiedReply) Slices() ([][]byte, fuse.Status) {
	return [][]byte{r.v.Bytes()}, fuse.OK
}

// Done is called by go-fuse once the reply is written.
func (r *verifiedReply) Done() {
	if r.b == nil {
		r.v.Release()
		return
	}
	r.n.s.submitCopy(copyItem{n: r.n, b: r.b, off: r.off, v: r.v})
	r.n.s.cw.replies.Add(-1)
}
