package pf

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// yieldBacking is a vecBacking whose vectored writes yield between buffers,
// so that batches sealed concurrently interleave their host writes.
type yieldBacking struct{ vecBacking }

func (y *yieldBacking) WritevAt(bufs [][]byte, off int64) (int, error) {
	y.writev.Add(1)
	total := 0
	for _, b := range bufs {
		n, err := y.WriteAt(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
		runtime.Gosched()
	}
	return total, nil
}

// TestBatchesInFlightOverwrite rewrites fresh nodes while the batches that
// first wrote them may still be in flight (several batches are sealed at
// once): the host must end up with each node's last write, matching the
// keys in its MHT entry, whatever order the goroutines run in.
func TestBatchesInFlightOverwrite(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 20 {
		yb := &yieldBacking{vecBacking{MemBacking: NewMemBacking(nil)}}
		f := create(t, yb, Options{})
		model := make([]byte, MetaDataSize+4*span1)
		size := 0
		for i := range 12 {
			// Whole fresh nodes (the direct path), often over the ones
			// the previous writes just queued.
			n := (1 + r.IntN(2*attachedData)) * NodeSize
			off := MetaDataSize + r.IntN((len(model)-MetaDataSize-n)/NodeSize+1)*NodeSize
			buf := randBytes(r, n)
			if _, err := f.WriteAt(buf, int64(off)); err != nil {
				t.Fatalf("round %d write %d: %v", round, i, err)
			}
			copy(model[off:], buf)
			size = max(size, off+n)
		}
		model = model[:size]
		got := make([]byte, len(model))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("round %d: read: %v", round, err)
		}
		if !bytes.Equal(got, model) {
			t.Fatalf("round %d: content mismatch", round)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		checkContent(t, yb.MemBacking, model)
	}
}

// WriteAtSplit seals from the caller's buffer in finish, run by the caller
// concurrently with the next writes and with reads; once finish returns,
// the File must not touch the buffer again (here it is scribbled over).
func TestWriteAtSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	vb := &vecBacking{MemBacking: NewMemBacking(nil)}
	f := create(t, vb, Options{})
	var model []byte
	var wg sync.WaitGroup
	for i := range 40 {
		n := r.IntN(300*NodeSize) + 1
		off := len(model)
		if i%5 == 4 && off > 0 {
			off = r.IntN(off) // overwrite (through the cache) now and then
		}
		buf := randBytes(r, n)
		if off+n > len(model) {
			model = append(model, make([]byte, off+n-len(model))...)
		}
		copy(model[off:], buf)
		c, finish, err := f.WriteAtSplit(buf, int64(off))
		if err != nil || c != n {
			t.Fatalf("write %d: %d, %v", i, c, err)
		}
		wg.Go(func() {
			if finish != nil {
				finish()
			}
			for j := range buf {
				buf[j] = 0xa5
			}
		})
		if i%3 == 0 {
			got := make([]byte, min(len(model), 2*span1))
			ro := r.IntN(len(model) - len(got) + 1)
			if _, err := f.ReadAt(got, int64(ro)); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			if !bytes.Equal(got, model[ro:ro+len(got)]) {
				t.Fatalf("read %d: content mismatch", i)
			}
		}
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, vb.MemBacking, model)
	if vb.writev.Load() == 0 {
		t.Fatal("no direct writes")
	}
}
