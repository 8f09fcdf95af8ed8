package trustedfs

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
)

// mapLookup is what manifest.TrustedSums gives, over a map.
func mapLookup(m map[string][32]byte) func(string) ([32]byte, bool) {
	return func(p string) ([32]byte, bool) { h, ok := m[p]; return h, ok }
}

// A set from NewSetLookup answers and verifies like one from NewSet.
func TestSetLookup(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 100, 1)
	entries := map[string][32]byte{p: sha256.Sum256(b)}
	s := NewSetLookup(mapLookup(entries), len(entries))
	if s.Len() != 1 || !s.Contains(p) || s.Contains(p+"x") {
		t.Fatalf("Len %d, Contains(%s) %t", s.Len(), p, s.Contains(p))
	}
	if h, ok := s.SHA256(p); !ok || h != entries[p] {
		t.Errorf("SHA256 = %x, %t", h, ok)
	}
	f, _ := os.Open(p)
	tf, err := s.Open(p, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(tf, 0, 100))
	if err != nil || string(got) != string(b) {
		t.Errorf("read %d bytes, %v", len(got), err)
	}
	bad := NewSetLookup(mapLookup(map[string][32]byte{p: {9}}), 1)
	f, _ = os.Open(p)
	if _, err := bad.Open(p, f); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("wrong hash: %v", err)
	}
	f, _ = os.Open(p)
	if _, err := s.Open(p+"x", f); !errors.Is(err, ErrNotTrusted) {
		t.Errorf("untrusted: %v", err)
	}
	ip, h := buildIndex(t, t.TempDir(), entries)
	ix, err := OpenIndex(ip, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachIndex(ix); err != nil {
		t.Fatal(err)
	}
	if sz, ok := s.Size(p); !ok || sz != 100 {
		t.Errorf("Size = %d, %t", sz, ok)
	}
}
