package trustedfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

var (
	// ErrNotTrusted reports a host path that is not in the trusted set.
	ErrNotTrusted = errors.New("trustedfs: not a trusted file")
	// ErrHashMismatch reports content that differs from what the manifest
	// (or the chunk index bound to it) says.
	ErrHashMismatch = errors.New("trustedfs: hash mismatch")
	// ErrIndexMismatch reports a chunk index entry whose whole-file SHA-256
	// differs from the manifest's: index and manifest were not signed together.
	ErrIndexMismatch = errors.New("trustedfs: chunk index disagrees with the manifest")
)

// Set is the set of trusted host files: host path → expected SHA-256 from the
// manifest, plus, once a chunk index is attached, each file's size and
// per-chunk hashes. A Set is safe for concurrent use.
type Set struct {
	files map[string][32]byte
	// lookup, with n entries, stands for files in a set from NewSetLookup.
	lookup func(hostPath string) ([32]byte, bool)
	n      int
	ix     atomic.Pointer[Index]
}

// NewSetLookup returns the set of n trusted files whose whole-file hashes
// lookup gives by host path (absolute, clean), which must be safe for
// concurrent use: for a manifest's own table (manifest.TrustedSums), so
// that nacre run need not build a map of every trusted file at start.
func NewSetLookup(lookup func(hostPath string) ([32]byte, bool), n int) *Set {
	return &Set{lookup: lookup, n: n}
}

// get returns the manifest's hash of hostPath.
func (s *Set) get(hostPath string) ([32]byte, bool) {
	if s.lookup != nil {
		return s.lookup(hostPath)
	}
	h, ok := s.files[hostPath]
	return h, ok
}

// NewSet returns the set of trusted files with the given whole-file hashes.
// Keys are host paths as the manifest names them (absolute, clean); the file
// server looks files up by the host path it reaches them by.
func NewSet(entries map[string][32]byte) *Set {
	m := make(map[string][32]byte, len(entries))
	for p, h := range entries {
		m[p] = h
	}
	return &Set{files: m}
}

// AttachIndex makes Open take sizes and chunk hashes from ix instead of
// hashing whole files. Entries are checked against the manifest lazily, at
// Open.
func (s *Set) AttachIndex(ix *Index) error {
	if ix == nil || ix.data == nil {
		return fmt.Errorf("attach chunk index: index is closed or nil")
	}
	s.ix.Store(ix)
	return nil
}

// Len returns the number of trusted files.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	if s.lookup != nil {
		return s.n
	}
	return len(s.files)
}

// Contains reports whether hostPath is a trusted file.
func (s *Set) Contains(hostPath string) bool {
	if s == nil {
		return false
	}
	_, ok := s.get(hostPath)
	return ok
}

// Size returns the size of a trusted file as the chunk index records it, and
// false when there is no index entry (the size is then known only after Open).
func (s *Set) Size(hostPath string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	want, ok := s.get(hostPath)
	if !ok {
		return 0, false
	}
	e, ok, err := s.ix.Load().Lookup(hostPath)
	if err != nil || !ok || e.SHA256 != want {
		return 0, false
	}
	return e.Size, true
}

// Open returns the verifying reader of the trusted file hostPath, whose
// content is read from f (already open for reading; Open takes ownership and
// closes it on error). With an index entry this costs one lookup; without one
// the whole file is hashed here and compared with the manifest.
func (s *Set) Open(hostPath string, f *os.File) (*File, error) {
	tf, err := s.open(hostPath, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return tf, nil
}

func (s *Set) open(hostPath string, f *os.File) (*File, error) {
	if s == nil {
		return nil, fmt.Errorf("%s: %w", hostPath, ErrNotTrusted)
	}
	want, ok := s.get(hostPath)
	if !ok {
		return nil, fmt.Errorf("%s: %w", hostPath, ErrNotTrusted)
	}
	e, ok, err := s.ix.Load().Lookup(hostPath)
	if err != nil {
		return nil, err
	}
	if ok {
		if e.SHA256 != want {
			return nil, fmt.Errorf("%s: index says SHA-256 %s, manifest %s: %w; re-run `nacre sign`",
				hostPath, hex.EncodeToString(e.SHA256[:]), hex.EncodeToString(want[:]), ErrIndexMismatch)
		}
		// A host file whose size differs was changed after signing even if
		// the signed prefix is intact (an append): refuse it outright rather
		// than serve a silently truncated view.
		if st, err := f.Stat(); err != nil {
			return nil, fmt.Errorf("%s: %w", hostPath, err)
		} else if st.Size() != e.Size {
			return nil, fmt.Errorf("%s: size is %d bytes on the host, %d when signed: %w", hostPath, st.Size(), e.Size, ErrHashMismatch)
		}
		return &File{f: f, path: hostPath, size: e.Size, chunks: e.chunks}, nil
	}
	size, chunks, err := hashWhole(f, hostPath, want)
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: hostPath, size: size, chunks: chunks}, nil
}

// hashWhole reads f from the start to its end, returning its size and chunk
// hashes if its SHA-256 is want.
func hashWhole(f *os.File, path string, want [32]byte) (int64, []byte, error) {
	buf := getBuf(1 << 20)
	defer putBuf(buf)
	whole := sha256.New()
	var chunks []byte
	var n int64
	for {
		m, err := readFullAt(f, *buf, n)
		if m > 0 {
			whole.Write((*buf)[:m])
			for off := 0; off < m; off += ChunkSize {
				sum := sha256.Sum256((*buf)[off:min(off+ChunkSize, m)])
				chunks = append(chunks, sum[:]...)
			}
			n += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("hash trusted file %s: %w", path, err)
		}
	}
	if got := whole.Sum(nil); [32]byte(got) != want {
		return 0, nil, fmt.Errorf("%s: SHA-256 is %s, the manifest says %s: %w",
			path, hex.EncodeToString(got), hex.EncodeToString(want[:]), ErrHashMismatch)
	}
	return n, chunks, nil
}
