package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/redis.manifest")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("redis.manifest", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpandTrustedFiles hashes a directory of 64 files of 128 KiB.
func BenchmarkExpandTrustedFiles(b *testing.B) {
	dir := b.TempDir()
	content := []byte(strings.Repeat("x", 128<<10))
	for i := range 64 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), content, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	src := []byte("libos.entrypoint = \"/x\"\nsgx.trusted_files = [\"file:" + dir + "/\"]\n")
	b.SetBytes(64 * int64(len(content)))
	for b.Loop() {
		m, err := Parse("bench", src)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.ExpandTrustedFiles(ExpandOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
