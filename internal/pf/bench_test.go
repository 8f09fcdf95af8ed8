package pf

import (
	crand "crypto/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

const benchSize = 16 << 20 // plaintext bytes per sequential pass

// BenchmarkAESGCM is the single-core limit: seal and open of one 4 KiB node
// with a fresh key each time (what every node write/read costs at minimum).
func BenchmarkAESGCM(b *testing.B) {
	var key [16]byte
	plain := make([]byte, NodeSize)
	ct := make([]byte, NodeSize)
	scratch := make([]byte, NodeSize+tagSize)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(NodeSize)
		for b.Loop() {
			crand.Read(key[:])
			sealNode(key[:], plain, ct, scratch)
		}
	})
	tag := sealNode(key[:], plain, ct, scratch)
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(NodeSize)
		for b.Loop() {
			if err := openNode(key[:], tag[:], ct, plain, scratch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type backingKind struct {
	name string
	make func(b *testing.B) Backing
}

var backings = []backingKind{
	// Pre-sized so the benchmark measures pf, not slice growth.
	{"mem", func(b *testing.B) Backing { return &MemBacking{buf: make([]byte, 0, benchSize*11/10)} }},
	{"file", func(b *testing.B) Backing {
		fh, err := os.Create(filepath.Join(b.TempDir(), "bench.pf"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { fh.Close() })
		return FileBacking{fh}
	}},
}

func BenchmarkSequentialWrite(b *testing.B) {
	buf := pattern(1 << 20)
	for _, bk := range backings {
		b.Run(bk.name, func(b *testing.B) {
			be := bk.make(b)
			b.SetBytes(benchSize)
			for b.Loop() {
				f, err := Create(be, "bench.pf", key1, Options{})
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < benchSize; off += len(buf) {
					if _, err := f.WriteAt(buf, int64(off)); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchFile(b *testing.B, bk backingKind) Backing {
	be := bk.make(b)
	f, err := Create(be, "bench.pf", key1, Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf := pattern(1 << 20)
	for off := 0; off < benchSize; off += len(buf) {
		f.WriteAt(buf, int64(off))
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return be
}

func BenchmarkSequentialRead(b *testing.B) {
	buf := make([]byte, 1<<20)
	for _, bk := range backings {
		b.Run(bk.name, func(b *testing.B) {
			be := benchFile(b, bk)
			b.SetBytes(benchSize)
			b.ResetTimer()
			for b.Loop() {
				f, err := Open(be, "bench.pf", key1, Options{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < benchSize; off += len(buf) {
					if _, err := f.ReadAt(buf, int64(off)); err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
			}
		})
	}
}

func BenchmarkRandomRead4K(b *testing.B) {
	buf := make([]byte, 4096)
	for _, bk := range backings {
		b.Run(bk.name, func(b *testing.B) {
			be := benchFile(b, bk)
			f, err := Open(be, "bench.pf", key1, Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(4096)
			b.ResetTimer()
			for b.Loop() {
				off := r.Int64N(benchSize - 4096)
				if _, err := f.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRandomWrite4K(b *testing.B) {
	buf := pattern(4096)
	for _, bk := range backings {
		b.Run(bk.name, func(b *testing.B) {
			be := benchFile(b, bk)
			f, err := Open(be, "bench.pf", key1, Options{})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(4096)
			b.ResetTimer()
			for b.Loop() {
				off := r.Int64N(benchSize - 4096)
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
