package pffs

import (
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Compare the mount's MB/s with BenchmarkAESGCMSeal4K, the single-core
// AES-128-GCM limit for the way pf encrypts (a fresh key per 4 KiB node).
//
//	go test -run '^$' -bench 'Mount|AESGCM' -benchtime 3x ./internal/pffs

const benchFile = 64 << 20

func BenchmarkAESGCMSeal4K(b *testing.B) {
	var key [16]byte
	var nonce [12]byte
	plain := make([]byte, 4096)
	out := make([]byte, 0, 4096+16)
	b.SetBytes(4096)
	for i := 0; b.Loop(); i++ {
		key[0], key[1] = byte(i), byte(i>>8)
		blk, _ := aes.NewCipher(key[:])
		g, _ := cipher.NewGCM(blk)
		out = g.Seal(out[:0], nonce[:], plain, nil)
	}
}

func writeBench(b *testing.B, p string, size int) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for off := 0; off < size; off += len(buf) {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

func BenchmarkMountSequentialWrite(b *testing.B) {
	m := mountFS(b, Config{HostDir: benchHostDir(b), Path: "/enc"})
	b.SetBytes(benchFile)
	for b.Loop() {
		writeBench(b, m.path("seq"), benchFile)
	}
}

func BenchmarkMountSequentialRead(b *testing.B) {
	m := mountFS(b, Config{HostDir: benchHostDir(b), Path: "/enc"})
	seqReadBench(b, m.path("seq"))
}

func BenchmarkMountRandomRead4K(b *testing.B) {
	m := mountFS(b, Config{HostDir: benchHostDir(b), Path: "/enc"})
	randReadBench(b, m.path("rnd"))
}

func BenchmarkMountRandomWrite4K(b *testing.B) {
	m := mountFS(b, Config{HostDir: benchHostDir(b), Path: "/enc"})
	randWriteBench(b, m.path("rnd"))
}

// seqReadBench reads a benchFile-sized file at p sequentially, dropping the
// page cache before each pass so that every pass reaches the filesystem.
func seqReadBench(b *testing.B, p string) {
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

// randReadBench reads random uncached 4 KiB blocks of a benchFile at p.
func randReadBench(b *testing.B, p string) {
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

// randWriteBench writes random 4 KiB blocks of a benchFile at p, with an
// fsync every 256 writes so that the filesystem does the work.
func randWriteBench(b *testing.B, p string) {
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

// benchHostDir is the host directory of a benchmark mount: $PFFS_BENCH_DIR
// (e.g. /dev/shm, to take the disk's fsync cost out) or a temp dir.
func benchHostDir(b *testing.B) string {
	if d := os.Getenv("PFFS_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "pffs-bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}
