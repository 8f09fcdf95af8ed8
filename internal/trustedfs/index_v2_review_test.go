package trustedfs

import (
	"crypto/sha256"
	"errors"
	"os"
	"testing"
)

// TestPendingIndexV2ClosesOnError: a version 2 index that Wait refuses
// (wrong digest) does not keep its file open.
func TestPendingIndexV2ClosesOnError(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 3*ChunkSize, 1)
	ip, digest := writeIndex2(t, dir, map[string][32]byte{p: sha256.Sum256(b)})
	pi := LoadIndex(ip)
	digest[0] ^= 1
	if _, err := pi.Wait(digest); !errors.Is(err, ErrIndexHash) {
		t.Fatalf("Wait with a wrong digest: %v", err)
	}
	if pi.f == nil {
		t.Fatal("test needs a version 2 index read by head")
	}
	if _, err := pi.f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("index file still open after Wait failed (stat: %v)", err)
	}
}
