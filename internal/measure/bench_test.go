package measure

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/manifest"
)

// BenchmarkOpenLarge verifies and parses a signed manifest of 8,000 trusted
// files, the size of bench/bench.manifest.template (python3 and its stdlib):
// this is most of nacre run's start-up before the sandbox starts.
func BenchmarkOpenLarge(b *testing.B) {
	var src strings.Builder
	src.WriteString("libos.entrypoint = \"/usr/bin/python3\"\nsgx.trusted_files = [\n")
	for i := range 8000 {
		fmt.Fprintf(&src, "  { uri = \"file:/usr/lib/python3.11/pkg%03d/module%04d.py\", sha256 = \"%064x\" },\n", i%100, i, i)
	}
	src.WriteString("]\n")
	m, err := manifest.Parse("large.manifest", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	data, err := Sign(m, katKey(b), SignOptions{Date: "0000-00-00"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, err := Open("large.manifest.sgx", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Manifest.TrustedFiles) != 8000 {
			b.Fatalf("%d trusted files", len(s.Manifest.TrustedFiles))
		}
	}
}
