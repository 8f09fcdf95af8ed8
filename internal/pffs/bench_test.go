package pffs

import (
	"crypto/aes"
	"crypto/cipher"
	"os"
	"testing"
)

// Compare the mount's MB/s with BenchmarkAESGCMSeal4K, the single-core
// AES-128-GCM limit for the way pf encrypts (a fresh key per 4 KiB node).
// The I/O is done by a client process (bench_client_test.go).
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

func BenchmarkMountSequentialWrite(b *testing.B) {
	m := mountFS(b, Config{HostDir: benchHostDir(b), Path: "/enc"})
	seqWriteBench(b, m.path("seq"))
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

// seqWriteBench rewrites a benchFile-sized file at p (O_TRUNC, 1 MiB
// writes, fsync) per iteration.
func seqWriteBench(b *testing.B, p string) {
	c := startBenchClient(b)
	b.SetBytes(benchFile)
	for b.Loop() {
		c.do(b, "seqwrite", p, 1)
	}
}

// seqReadBench reads a benchFile-sized file at p sequentially, dropping the
// page cache before each pass so that every pass reaches the filesystem.
func seqReadBench(b *testing.B, p string) {
	c := startBenchClient(b)
	c.do(b, "seqwrite", p, 1)
	b.SetBytes(benchFile)
	for b.Loop() {
		c.do(b, "seqread", p, 1)
	}
}

// randReadBench reads random uncached 4 KiB blocks of a benchFile at p.
func randReadBench(b *testing.B, p string) {
	c := startBenchClient(b)
	c.do(b, "seqwrite", p, 1)
	c.do(b, "open", p, 0)
	b.SetBytes(4096)
	b.ResetTimer()
	c.do(b, "randread", p, b.N)
	b.StopTimer()
	c.do(b, "close", p, 0)
}

// randWriteBench writes random 4 KiB blocks of a benchFile at p, with an
// fsync every 256 writes so that the filesystem does the work.
func randWriteBench(b *testing.B, p string) {
	c := startBenchClient(b)
	c.do(b, "seqwrite", p, 1)
	c.do(b, "open", p, 0)
	b.SetBytes(4096)
	b.ResetTimer()
	c.do(b, "randwrite", p, b.N)
	b.StopTimer()
	c.do(b, "close", p, 0)
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
