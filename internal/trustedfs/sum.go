package trustedfs

import "crypto/sha256"

// SHA256 returns the manifest's whole-file SHA-256 of the trusted file
// hostPath.
func (s *Set) SHA256(hostPath string) ([32]byte, bool) {
	if s == nil {
		return [32]byte{}, false
	}
	return s.get(hostPath)
}

// CopyID returns what a verified copy of the trusted file hostPath
// (internal/verifiedcache) must be bound to: the manifest's whole-file
// SHA-256, the size, and the SHA-256 of the chunk-hash list in the chunk
// index. Reads are verified against the chunk hashes, and only the signer
// vouches that those match the whole-file SHA-256: a copy made under another
// signer's index must not serve this one. False without an index entry.
func (s *Set) CopyID(hostPath string) (sum [32]byte, size int64, chunks [32]byte, ok bool) {
	if s == nil {
		return sum, 0, chunks, false
	}
	sum, ok = s.get(hostPath)
	if !ok {
		return sum, 0, chunks, false
	}
	e, ok, err := s.ix.Load().Lookup(hostPath)
	if err != nil || !ok || e.SHA256 != sum {
		return sum, 0, chunks, false
	}
	return sum, e.Size, sha256.Sum256(e.chunks), true
}
