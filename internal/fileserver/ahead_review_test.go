package fileserver

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVerifyAheadConcurrentReads: READs racing with a verify-ahead (and with
// evictions that make the kernel send READs for pages the store is about to
// fill) always see the file's verified content, never bytes of a reused
// buffer.
func TestVerifyAheadConcurrentReads(t *testing.T) {
	const size = 5<<20 + 123
	f, _, content := elfFixture(t, size, nil)
	for round := range 4 {
		fd, err := os.Open(f.m("usr/lib/libfake.so"))
		if err != nil {
			t.Fatal(err)
		}
		_ = unix.Fadvise(int(fd.Fd()), 0, 0, unix.FADV_DONTNEED)
		var wg sync.WaitGroup
		errs := make(chan string, 16)
		for g := range 6 {
			wg.Go(func() {
				buf := make([]byte, 70000)
				for i := range 40 {
					off := int64((g*7919 + i*104729 + round*13) * 997 % size)
					n, err := fd.ReadAt(buf, off)
					if n == 0 && err != nil {
						errs <- err.Error()
						return
					}
					if !bytes.Equal(buf[:n], content[off:off+int64(n)]) {
						errs <- "content differs"
						return
					}
					if i%10 == 0 {
						_ = unix.Fadvise(int(fd.Fd()), off, 1<<20, unix.FADV_DONTNEED)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("round %d: %s", round, e)
		}
		f.srv.aheads.wait()
		all, err := os.ReadFile(f.m("usr/lib/libfake.so"))
		if err != nil || !bytes.Equal(all, content) {
			t.Fatalf("round %d: whole file: err %v, equal %v", round, err, bytes.Equal(all, content))
		}
		fd.Close()
	}
}
