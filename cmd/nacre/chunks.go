package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/shield"
	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// The chunk index lets nacre run verify any 16 KiB of a trusted file without
// hashing the whole file first; its hash is covered by the signature.
func init() { signHook = writeChunkIndex }

func writeChunkIndex(m *manifest.Manifest, out string) (*[32]byte, error) {
	files := make(map[string][32]byte, len(m.TrustedFiles))
	for _, tf := range m.TrustedFiles {
		host, err := manifest.HostPath(tf.URI)
		if err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(tf.SHA256)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("trusted file %s: sha256 %q is not 64 hex digits", tf.URI, tf.SHA256)
		}
		var sum [32]byte
		copy(sum[:], b)
		files[host] = sum
	}
	path := shield.ChunkIndexPath(out)
	tmp, err := os.CreateTemp(dirOf(path), ".chunks-*")
	if err != nil {
		return nil, fmt.Errorf("creating chunk index: %w", err)
	}
	defer os.Remove(tmp.Name())
	// Version 2: the signature binds the index's head; each file's chunk
	// hashes are checked against its entry when nacre run first uses them.
	sum, err := trustedfs.WriteIndex(tmp, files, terminalProgress("indexing trusted files"))
	if err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing chunk index %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("writing chunk index: %w", err)
	}
	return &sum, nil
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			if i == 0 {
				return "/"
			}
			return p[:i]
		}
	}
	return "."
}
