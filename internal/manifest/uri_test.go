package manifest

import (
	"path/filepath"
	"testing"
)

// isCleanAbs must agree with filepath: absolute and already clean.
func FuzzIsCleanAbs(f *testing.F) {
	for _, p := range []string{"/", "/a", "/a/b", "//a", "/a/", "/a/./b", "/a/../b", "/.", "/..", "/a/.b", "/a/..b", "/a/b.", "a", "", "/a//b", "/...", "/a/."} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := filepath.IsAbs(p) && filepath.Clean(p) == p
		if got := isCleanAbs(p); got != want {
			t.Fatalf("isCleanAbs(%q) = %v, want %v", p, got, want)
		}
	})
}
