package render

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkRender renders a loop-heavy manifest template (no subprocesses).
func BenchmarkRender(b *testing.B) {
	src, err := os.ReadFile("testdata/server.manifest.template")
	if err != nil {
		b.Fatal(err)
	}
	big := strings.Repeat(string(src), 20)
	r := goldenRenderer(goldenCases[3].defines)
	b.SetBytes(int64(len(big)))
	b.ResetTimer()
	for range b.N {
		if _, err := r.Render("server.manifest.template", []byte(big)); err != nil {
			b.Fatal(err)
		}
	}
}
