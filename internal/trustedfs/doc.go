// Package trustedfs owns the verification of trusted files: the set of host
// files whose SHA-256 the signed manifest fixes, the chunk index that `nacre
// sign` writes so a file can be verified piecewise without hashing it whole,
// and File, an open trusted file whose every read is checked against those
// hashes before a byte is returned.
//
// A trusted file is cut into 16 KiB chunks (ChunkSize). Each chunk has its own
// SHA-256. With a chunk index (docs/spec/chunk-index.md) the chunk hashes come
// from the signed index, so opening a file costs one binary search. Without an
// index (unsigned or development manifests) the whole file is hashed at open,
// compared with the manifest, and the chunk hashes are recorded on the way,
// which is how Gramine checks trusted files too.
//
// Every ReadAt reads the chunks it touches from the host again and re-hashes
// them: nothing read earlier is trusted later, so a file changed on the host
// between two reads fails the second one with ErrHashMismatch.
//
// ReadVerified and ReadAhead return verified bytes in pooled private buffers
// (Verified), hashed in place; bytes are never served again from a buffer
// after its Release.
//
// The package knows nothing about FUSE; internal/fileserver puts it behind the
// app's filesystem view.
package trustedfs
