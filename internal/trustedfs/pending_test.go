package trustedfs

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadIndex: the background load gives the same index as OpenIndex, and
// the hash is checked against the bytes that were read, not the file as it
// is at Wait: a file replaced after LoadIndex read it does not slip through,
// and one damaged before is refused.
func TestLoadIndex(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 3*ChunkSize+5, 11)
	ip, h := buildIndex(t, dir, map[string][32]byte{p: sha256.Sum256(b)})

	pending := LoadIndex(ip)
	if pending.Path() != ip {
		t.Errorf("Path() = %q, want %q", pending.Path(), ip)
	}
	ix, err := pending.Wait(h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if e, ok, err := ix.Lookup(p); err != nil || !ok || e.Size != int64(len(b)) {
		t.Errorf("Lookup(%s) = %+v, %v, %v; want size %d", p, e, ok, err, len(b))
	}
	// Waiting again is allowed and gives the same answer.
	if _, err := pending.Wait(h); err != nil {
		t.Errorf("second Wait: %v", err)
	}

	pending = LoadIndex(ip)
	if _, err := pending.Wait([32]byte{1}); !errors.Is(err, ErrIndexHash) {
		t.Errorf("Wait with a wrong hash: err = %v, want ErrIndexHash", err)
	}

	data, err := os.ReadFile(ip)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(ip, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(ip).Wait(h); !errors.Is(err, ErrIndexHash) {
		t.Errorf("damaged index: err = %v, want ErrIndexHash", err)
	}
	if _, err := LoadIndex(filepath.Join(dir, "missing")).Wait(h); err == nil {
		t.Error("LoadIndex of a missing file succeeded")
	}
}
