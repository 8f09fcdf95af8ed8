package pf

import (
	"errors"
	"io"
	"sync"
	"testing"
)

// Large reads (unlocked and direct) racing with rewrites, shrinks and
// flushes: every data node a read returns holds one whole version (a
// single generation byte), never a mix and never garbage, and no read
// fails.
func TestDirectReadsRaceRewrites(t *testing.T) {
	vb := &vecBacking{MemBacking: NewMemBacking(nil)}
	f := create(t, vb, Options{CacheNodes: 48})
	const gens = 60
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := range 2 {
		wg.Go(func() {
			buf := make([]byte, 2*span1)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				off := int64(MetaDataSize + ((i*7+r*13)%40)*NodeSize)
				n, err := f.ReadAt(buf, off)
				if err != nil && !errors.Is(err, io.EOF) {
					errs <- err
					return
				}
				for k := 0; k+NodeSize <= n; k += NodeSize {
					node := buf[k : k+NodeSize]
					for _, c := range node {
						if c != node[0] {
							errs <- errors.New("a node mixes versions")
							return
						}
					}
				}
			}
		})
	}
	for g := 1; g <= gens; g++ {
		size := span1 + (g%5)*attachedData*NodeSize/2
		if g%3 == 0 {
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(g)
		}
		if _, err := f.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		if g%4 == 0 {
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if vb.readv.Load() == 0 {
		t.Fatal("no direct reads")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
