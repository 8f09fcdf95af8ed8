package trustedfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkVerifiedRead reads a 64 MiB trusted file (host page cache warm)
// through File.ReadAt in FUSE-sized requests, with chunk hashes from an index.
func BenchmarkVerifiedRead(b *testing.B) {
	for _, req := range []int{128 << 10, 1 << 20} {
		for _, aligned := range []bool{true, false} {
			b.Run(fmt.Sprintf("req=%dK/aligned=%v", req>>10, aligned), func(b *testing.B) {
				dir := b.TempDir()
				p, data := writeFile(b, dir, "f", 64<<20, 1)
				tf := openTrusted(b, p, sha256.Sum256(data), true)
				buf := make([]byte, req)
				start := int64(0)
				if !aligned {
					start = 4096 // like mmap fault-around reads
				}
				b.SetBytes(int64(len(data)) - start)
				b.ResetTimer()
				for b.Loop() {
					for off := start; off < int64(len(data)); off += int64(req) {
						if _, err := tf.ReadAt(buf, off); err != nil && off+int64(req) < int64(len(data)) {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkIndexLookup looks up paths in an index of 5000 files (the size of
// a python + coreutils + libraries manifest).
func BenchmarkIndexLookup(b *testing.B) {
	dir := b.TempDir()
	files := map[string][32]byte{}
	var paths []string
	empty := sha256.Sum256(nil)
	for i := range 5000 {
		p := filepath.Join(dir, fmt.Sprintf("usr/lib/python3/mod%05d.py", i))
		if i == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		os.WriteFile(p, nil, 0o644)
		files[p] = empty
		paths = append(paths, p)
	}
	var buf bytes.Buffer
	if err := BuildIndex(&buf, files, nil); err != nil {
		b.Fatal(err)
	}
	ip := filepath.Join(dir, "index")
	os.WriteFile(ip, buf.Bytes(), 0o644)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := OpenIndex(ip, sha256.Sum256(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
	ix, err := OpenIndex(ip, sha256.Sum256(buf.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok, err := ix.Lookup(paths[i%len(paths)]); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
}
