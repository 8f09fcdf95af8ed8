package trustedfs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
)

func TestReadVerified(t *testing.T) {
	dir := t.TempDir()
	const size = 5*ChunkSize + 123
	p, b := writeFile(t, dir, "f", size, 5)
	tf := openTrusted(t, p, sha256.Sum256(b), true)
	read := map[string]func(int64, int) (*Verified, error){"ReadVerified": tf.ReadVerified, "ReadAhead": tf.ReadAhead}
	for name, rd := range read {
		for _, c := range []struct {
			off int64
			n   int
		}{{0, size}, {0, 1 << 20}, {1, 10}, {ChunkSize - 1, 2}, {2 * ChunkSize, ChunkSize}, {size - 5, 100}, {0, 0}} {
			v, err := rd(c.off, c.n)
			if err != nil {
				t.Fatalf("%s(%d, %d): %v", name, c.off, c.n, err)
			}
			want := b[c.off:min(c.off+int64(c.n), size)]
			if !bytes.Equal(v.Bytes(), want) {
				t.Errorf("%s(%d, %d): %d bytes, want %d equal bytes", name, c.off, c.n, len(v.Bytes()), len(want))
			}
			v.Release()
			if v.Bytes() != nil {
				t.Errorf("%s: bytes after Release", name)
			}
		}
		if v, err := rd(size, 10); err != io.EOF || len(v.Bytes()) != 0 {
			t.Errorf("%s at the verified size: %v, %d bytes", name, err, len(v.Bytes()))
		}
	}
	// A changed chunk fails and returns nothing; buffers released before
	// (with good bytes) do not leak into the failure, and other chunks
	// still read.
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	w.WriteAt([]byte{b[3*ChunkSize] ^ 1}, 3*ChunkSize)
	w.Close()
	for name, rd := range read {
		if v, err := rd(2*ChunkSize, 2*ChunkSize); !errors.Is(err, ErrHashMismatch) || v != nil {
			t.Errorf("%s of a changed chunk: %v, %v", name, v, err)
		}
		v, err := rd(4*ChunkSize, ChunkSize)
		if err != nil || !bytes.Equal(v.Bytes(), b[4*ChunkSize:5*ChunkSize]) {
			t.Errorf("%s of a good chunk after a failure: %v", name, err)
		}
		v.Release()
	}
}
