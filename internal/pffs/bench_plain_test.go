package pffs

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The same workloads on a plain host directory (the benchmark host dir),
// so bench/pf.sh can print encrypted-mount / plain ratios from one run.

func BenchmarkPlainSequentialWrite(b *testing.B) {
	p := filepath.Join(benchHostDir(b), "plain-seq")
	b.SetBytes(benchFile)
	for b.Loop() {
		writeBench(b, p, benchFile)
	}
}

func BenchmarkPlainSequentialRead(b *testing.B) {
	p := filepath.Join(benchHostDir(b), "plain-seq")
	writeBench(b, p, benchFile)
	buf := make([]byte, 1<<20)
	b.SetBytes(benchFile)
	for b.Loop() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		for {
			n, err := f.Read(buf)
			if n == 0 || err != nil {
				break
			}
		}
		f.Close()
	}
}

func BenchmarkPlainRandomRead4K(b *testing.B) {
	p := filepath.Join(benchHostDir(b), "plain-rnd")
	writeBench(b, p, benchFile)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	for b.Loop() {
		off := int64(rng.IntN(benchFile/4096)) * 4096
		_ = unix.Fadvise(int(f.Fd()), off, 4096, unix.FADV_DONTNEED)
		if _, err := f.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainRandomWrite4K(b *testing.B) {
	p := filepath.Join(benchHostDir(b), "plain-rnd")
	writeBench(b, p, benchFile)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	for i := 0; b.Loop(); i++ {
		off := int64(rng.IntN(benchFile/4096)) * 4096
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}
