package pf

import (
	"bytes"
	"io"
	"testing"
)

// sparseBacking stores only the nodes that were written; the rest of its
// (possibly terabyte-sized) extent reads as zero.
type sparseBacking struct {
	nodes map[int64]*[NodeSize]byte
	size  int64
}

func newSparse() *sparseBacking { return &sparseBacking{nodes: map[int64]*[NodeSize]byte{}} }

func (s *sparseBacking) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < s.size {
		idx, in := off/NodeSize, off%NodeSize
		c := int(min(int64(len(p)-n), NodeSize-in, s.size-off))
		if nd := s.nodes[idx]; nd != nil {
			copy(p[n:n+c], nd[in:])
		} else {
			clear(p[n : n+c])
		}
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *sparseBacking) WriteAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		idx, in := off/NodeSize, off%NodeSize
		nd := s.nodes[idx]
		if nd == nil {
			nd = new([NodeSize]byte)
			s.nodes[idx] = nd
		}
		c := copy(nd[in:], p[n:])
		n += c
		off += int64(c)
	}
	s.size = max(s.size, off)
	return len(p), nil
}

func (s *sparseBacking) Truncate(n int64) error {
	for k := range s.nodes {
		if k*NodeSize >= n {
			delete(s.nodes, k)
		}
	}
	s.size = n
	return nil
}
func (s *sparseBacking) Sync() error          { return nil }
func (s *sparseBacking) Size() (int64, error) { return s.size, nil }

// buildSparse writes, by hand, a protected file of plaintext size `size`
// whose only materialized nodes are node 0, the data node holding the last
// byte and its chain of MHT ancestors (every other node is a hole that is
// never read). It lets the tests exercise terabyte offsets and deep trees.
func buildSparse(t *testing.T, size uint64, tail []byte) *sparseBacking {
	t.Helper()
	sb := newSparse()
	off := size - uint64(len(tail))
	m, d, _, physData := nodeNumbers(off)
	var data node
	copy(data.plain[(off-MetaDataSize)%NodeSize:], tail)
	rnd := &detRand{seed: 99}
	key := func() []byte { k := make([]byte, 16); rnd.Read(k); return k }
	f, err := Create(sb, "big.pf", key1, Options{Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}

	// Data node, then MHT nodes up to (not including) the root.
	k := key()
	tag := sealBuf(k, data.plain[:], &data.enc)
	sb.WriteAt(data.enc[:NodeSize], int64(physData*NodeSize))
	var entryOff uint64 = (d % attachedData) * entrySize
	for {
		var mht node
		copy(mht.plain[entryOff:], k)
		copy(mht.plain[entryOff+16:], tag[:])
		if m == 0 {
			// Root: its key and tag go into the metadata at the flush.
			f.root.plain = mht.plain
			f.root.dirty = true
			f.meta.size = size
			f.needWriting = true
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			return sb
		}
		k = key()
		tag = sealBuf(k, mht.plain[:], &mht.enc)
		sb.WriteAt(mht.enc[:NodeSize], int64(mhtPhysical(m)*NodeSize))
		entryOff = (attachedData + (m-1)%childMHT) * entrySize
		m = (m - 1) / childMHT
	}
}

// TestSparseTerabyte reads and writes at the end of 1 TiB and 3 TiB files
// (six MHT levels including the root) through the public API.
func TestSparseTerabyte(t *testing.T) {
	for _, size := range []uint64{1<<40 + 12345, 3<<40 + 4096*96*7 + 1} {
		tail := []byte("the last bytes of a terabyte file")
		sb := buildSparse(t, size, tail)
		if hs, _ := sb.Size(); uint64(hs) != EncryptedSize(size) {
			t.Fatalf("host size %d, want %d", hs, EncryptedSize(size))
		}
		f, err := Open(sb, "big.pf", key1, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Size() != int64(size) {
			t.Fatalf("size %d", f.Size())
		}
		buf := make([]byte, len(tail)+10)
		n, err := f.ReadAt(buf, int64(size)-int64(len(tail)))
		if n != len(tail) || err != io.EOF || !bytes.Equal(buf[:n], tail) {
			t.Fatalf("tail read: n=%d err=%v %q", n, err, buf[:n])
		}
		// Overwrite and extend at the far end, then reopen.
		if _, err := f.WriteAt([]byte("CHANGED"), int64(size)-7); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("+more"), int64(size)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f, err = Open(sb, "big.pf", key1, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(clone(tail[:len(tail)-7]), "CHANGED"...), "+more"...)
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, int64(size)-int64(len(tail))); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after reopen: %v %q", err, got)
		}
		// A hole (never written) is detected, not returned as zeros.
		if _, err := f.ReadAt(got, 1<<39); !IsIntegrity(err) {
			t.Fatalf("hole read: %v", err)
		}
		f.Close()
		if len(sb.nodes) > 20 {
			t.Fatalf("%d nodes materialized", len(sb.nodes))
		}
	}
}
