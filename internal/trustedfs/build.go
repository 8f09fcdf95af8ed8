package trustedfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// BuildIndex writes the chunk index of files (host path → expected whole-file
// SHA-256) to w, in the format of docs/spec/chunk-index.md. It reads every
// file once, records its size and the SHA-256 of each 16 KiB chunk, and fails
// with ErrHashMismatch if a file's content does not have the expected hash (or
// its size changes while it is read). progress, if not nil, is called with the
// bytes hashed so far and the total.
//
// On error, w holds a partial index that must be discarded. The caller binds
// the SHA-256 of everything written to w into the signed manifest.
func BuildIndex(w io.Writer, files map[string][32]byte, progress func(done, total int64)) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		if p == "" || len(p) > maxIndexedPath || !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("build chunk index: %q is not a clean absolute path of at most %d bytes", p, maxIndexedPath)
		}
		paths = append(paths, p)
	}
	// Byte order, which is what Lookup's binary search compares.
	slices.Sort(paths)

	sizes := make([]int64, len(paths))
	var total, chunks, strs int64
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("build chunk index: %w", err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("build chunk index: trusted file %s is not a regular file", p)
		}
		sizes[i] = st.Size()
		total += st.Size()
		chunks += chunkCount(st.Size())
		strs += int64(len(p))
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	le := binary.LittleEndian
	var hdr [headerSize]byte
	copy(hdr[:], indexMagic)
	le.PutUint32(hdr[8:], indexVersion)
	le.PutUint32(hdr[12:], ChunkSize)
	le.PutUint64(hdr[16:], uint64(len(paths)))
	le.PutUint64(hdr[24:], uint64(chunks))
	le.PutUint64(hdr[32:], uint64(strs))
	bw.Write(hdr[:])

	var first, strOff int64
	for i, p := range paths {
		var e [entrySize]byte
		le.PutUint64(e[0:], uint64(strOff))
		le.PutUint32(e[8:], uint32(len(p)))
		le.PutUint64(e[16:], uint64(sizes[i]))
		le.PutUint64(e[24:], uint64(first))
		sum := files[p]
		copy(e[32:], sum[:])
		bw.Write(e[:])
		first += chunkCount(sizes[i])
		strOff += int64(len(p))
	}

	buf := make([]byte, 1<<20) // a multiple of ChunkSize
	var done int64
	for i, p := range paths {
		n, err := hashChunks(p, sizes[i], files[p], buf, bw, func(d int64) {
			done += d
			if progress != nil {
				progress(done, total)
			}
		})
		if err != nil {
			return fmt.Errorf("build chunk index: %w", err)
		}
		if n != sizes[i] {
			return fmt.Errorf("build chunk index: %s changed size while being read (%d, then %d bytes): %w", p, sizes[i], n, ErrHashMismatch)
		}
	}
	for _, p := range paths {
		bw.WriteString(p)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("build chunk index: write: %w", err)
	}
	return nil
}

// hashChunks reads the file at path to its end, writes the SHA-256 of each
// chunk to out and checks the whole-file hash against want. It reads at most
// limit bytes, so a file growing underneath cannot add chunks past the header's
// count. It returns the number of bytes read.
func hashChunks(path string, limit int64, want [32]byte, buf []byte, out io.Writer, step func(int64)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	whole := sha256.New()
	var n int64
	for {
		m, err := io.ReadFull(f, buf)
		if m > 0 {
			if n+int64(m) > limit {
				return n + int64(m), nil // caller reports the size change
			}
			whole.Write(buf[:m])
			for off := 0; off < m; off += ChunkSize {
				sum := sha256.Sum256(buf[off:min(off+ChunkSize, m)])
				out.Write(sum[:])
			}
			n += int64(m)
			step(int64(m))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if got := whole.Sum(nil); [32]byte(got) != want {
		return n, fmt.Errorf("%s: SHA-256 is %s, the manifest says %s: %w: the file changed after the manifest was rendered; if the change is intended, render the manifest again (nacre manifest) and sign it",
			path, hex.EncodeToString(got), hex.EncodeToString(want[:]), ErrHashMismatch)
	}
	return n, nil
}
