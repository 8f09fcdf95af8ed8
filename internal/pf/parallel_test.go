package pf

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// A large read decrypts its nodes in parallel (direct.go); it must still
// return exactly the bytes before a tampered node and then ErrTampered,
// whichever node of the batch is damaged.
func TestParallelReadStopsAtTamperedNode(t *testing.T) {
	want := make([]byte, MetaDataSize+150*NodeSize+100) // spans two MHT nodes
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	raw := mb.Bytes()
	for _, d := range []uint64{0, 5, 31, 95, 96, 120, 149} {
		bad := bytes.Clone(raw)
		_, _, _, phys := nodeNumbers(MetaDataSize + d*NodeSize)
		bad[phys*NodeSize+17] ^= 1
		g, err := Open(NewMemBacking(bad), "dir/file.pf", key1, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("node %d: open: %v", d, err)
		}
		got := make([]byte, len(want))
		n, err := g.ReadAt(got, 0)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("node %d: err = %v, want ErrTampered", d, err)
		}
		if wantN := MetaDataSize + int(d)*NodeSize; n != wantN || !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("node %d: read %d bytes (want %d) or wrong bytes before the damage", d, n, wantN)
		}
		if bytes.Contains(got[n:], want[n+100:n+200]) {
			t.Fatalf("node %d: plaintext past the damaged node was returned", d)
		}
	}
	checkContent(t, NewMemBacking(raw), want)
}

// Sealing in parallel must not change what a flush writes: two runs with
// the same random source are byte-identical, and the file reads back.
func TestParallelSealDeterministic(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	run := func() []byte {
		mb := NewMemBacking(nil)
		f := create(t, mb, Options{Rand: rand.NewChaCha8([32]byte{9}), CacheNodes: 4096})
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return mb.Bytes()
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatal("same random source, different output")
	}
	checkContent(t, NewMemBacking(a), data)
}
