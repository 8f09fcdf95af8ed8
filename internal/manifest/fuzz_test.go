package manifest

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sameValue is reflect.DeepEqual except that NaN equals NaN and -0.0 differs
// from 0.0 (the canonical form must keep both).
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b))
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !sameValue(v, b[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// FuzzParse checks that no input panics and that every accepted manifest
// survives Marshal -> Parse unchanged, with a byte-identical second Marshal.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.manifest")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("libos.entrypoint = \"/a\"\nloader.env.\"x y\" = \"\\u0001\"\n"))
	f.Add([]byte("[[fs.mounts]]\npath = \"/a\"\n[[fs.mounts]]\ntype = \"tmpfs\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m2, err := Parse("fuzz", out)
		if err != nil {
			t.Fatalf("canonical form rejected: %v\n%s", err, out)
		}
		if !sameValue(m.Tree(), m2.Tree()) {
			t.Fatalf("tree changed:\n%s", out)
		}
		out2, _ := m2.Marshal()
		if string(out) != string(out2) {
			t.Fatalf("Marshal not deterministic")
		}
	})
}
