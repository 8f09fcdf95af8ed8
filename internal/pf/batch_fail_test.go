package pf

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// failVecBacking is a vecBacking whose vectored writes fail with ENOSPC
// once full is set (a disk that fills up under a run of large writes).
type failVecBacking struct {
	vecBacking
	full atomic.Bool
}

func (b *failVecBacking) WritevAt(bufs [][]byte, off int64) (int, error) {
	if b.full.Load() {
		b.writev.Add(1)
		return 0, syscall.ENOSPC
	}
	return b.vecBacking.WritevAt(bufs, off)
}

// When several batches in flight fail (say the disk is full), a
// WriteAtSplit that reports the failure must not leave its own nodes
// queued: they point into the caller's buffer, which the caller reuses as
// soon as WriteAtSplit returns without a finish.
func TestWriteAtSplitFailedBatchesKeepNoBuffer(t *testing.T) {
	fb := &failVecBacking{vecBacking: vecBacking{MemBacking: NewMemBacking(nil)}}
	f := create(t, fb, Options{})
	fb.full.Store(true)
	const n = 16 * NodeSize
	var wg sync.WaitGroup
	off := int64(0)
	var err error
	for i := 0; i < 2*maxInflight && err == nil; i++ {
		size := n
		if off == 0 {
			size += MetaDataSize
		}
		buf := pattern(size)
		var finish func()
		_, finish, err = f.WriteAtSplit(buf, off)
		if finish != nil {
			wg.Go(finish)
		}
		off += int64(size)
	}
	wg.Wait()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writes on a full disk: got %v, want ENOSPC", err)
	}
	if f.collect != nil && f.collect.n > 0 {
		t.Fatalf("WriteAtSplit failed but keeps %d nodes that point into the caller's buffer", f.collect.n)
	}
	before := fb.writev.Load()
	if cerr := f.Close(); !errors.Is(cerr, syscall.ENOSPC) {
		t.Fatalf("close: got %v, want ENOSPC", cerr)
	}
	if w := fb.writev.Load() - before; w != 0 {
		t.Fatalf("close of a failed file wrote %d batches", w)
	}
}

// A batch that fails in the background names the file in its error while
// the caller may be renaming it: Rename must wait for the batches first
// (run with -race).
func TestRenameWaitsForFailingBatch(t *testing.T) {
	fb := &failVecBacking{vecBacking: vecBacking{MemBacking: NewMemBacking(nil)}}
	f := create(t, fb, Options{})
	fb.full.Store(true)
	if _, err := f.WriteAt(pattern(MetaDataSize+16*NodeSize), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Rename("dir/other.pf"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("rename after a failed batch: got %v, want ENOSPC", err)
	}
	_ = f.Close()
}
