package trustedfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
)

// Version 2 of the chunk index (docs/spec/chunk-index.md, section 5): the
// chunk table moves to the end, and each file entry carries the SHA-256 of
// its own chunk hashes. The manifest binds the SHA-256 of the head (header,
// file table, string table: ~1 MiB for 7,900 files) instead of the whole
// file (~10 MiB): nacre run reads and hashes the head at start, and each
// file's chunk hashes when the file is first looked up, checked against its
// entry. Reading and hashing the whole index was ~8 ms of CPU per run.
const (
	indexVersion2 = 2
	entrySize2    = 96
)

// headLen returns the length of a version 2 index's head, from the header
// hdr of a file of fileSize bytes, or an error if it cannot fit.
func headLen(hdr []byte, fileSize int64) (int64, error) {
	le := binary.LittleEndian
	n, s := le.Uint64(hdr[16:]), le.Uint64(hdr[32:])
	if fileSize < headerSize {
		return 0, fmt.Errorf("%d bytes, shorter than the header: %w", fileSize, ErrCorruptIndex)
	}
	rest := uint64(fileSize) - headerSize
	// Compare before multiplying, so that no product can overflow.
	if n > rest/entrySize2 || s > rest-n*entrySize2 {
		return 0, fmt.Errorf("%d file entries and a string table of %d bytes do not fit: %w", n, s, ErrCorruptIndex)
	}
	return int64(headerSize + n*entrySize2 + s), nil
}

// parseHead checks the head of a version 2 index (already checked against
// the manifest's hash) and the file length it implies; src reads the chunk
// table, which starts right after the head.
func parseHead(head []byte, src io.ReaderAt, fileSize int64) (*Index, error) {
	if len(head) < headerSize {
		return nil, fmt.Errorf("%d bytes, shorter than the header: %w", len(head), ErrCorruptIndex)
	}
	if string(head[:8]) != indexMagic {
		return nil, fmt.Errorf("bad magic %q: %w", head[:8], ErrCorruptIndex)
	}
	le := binary.LittleEndian
	if v := le.Uint32(head[8:]); v != indexVersion2 {
		return nil, fmt.Errorf("version %d, want %d: %w", v, indexVersion2, ErrCorruptIndex)
	}
	if cs := le.Uint32(head[12:]); cs != ChunkSize {
		return nil, fmt.Errorf("chunk size %d, want %d: %w", cs, ChunkSize, ErrCorruptIndex)
	}
	for _, b := range head[40:headerSize] {
		if b != 0 {
			return nil, fmt.Errorf("reserved header bytes are not zero: %w", ErrCorruptIndex)
		}
	}
	n, c, s := le.Uint64(head[16:]), le.Uint64(head[24:]), le.Uint64(head[32:])
	if l, err := headLen(head, int64(len(head))); err != nil || l != int64(len(head)) {
		return nil, fmt.Errorf("head is %d bytes, not the %d of %d entries and %d string bytes: %w", len(head), l, n, s, ErrCorruptIndex)
	}
	if fileSize < int64(len(head)) || c != uint64(fileSize-int64(len(head)))/chunkHashSize || uint64(fileSize-int64(len(head)))%chunkHashSize != 0 {
		return nil, fmt.Errorf("%d bytes do not hold a head of %d bytes and %d chunk hashes: %w", fileSize, len(head), c, ErrCorruptIndex)
	}
	strOff := headerSize + n*entrySize2
	return &Index{
		data: head, n: n, c: c, strOff: strOff, strLen: s, entSize: entrySize2,
		v2: &lazyChunks{src: src, base: int64(len(head)), checked: make([]atomic.Pointer[[]byte], n)},
	}, nil
}

// lazyChunks reads each file's chunk hashes from the index file on the
// file's first lookup, into private memory, and keeps them once they match
// the entry's digest: the host cannot change them after that check, and a
// list changed before it makes that file unreadable (fail closed), not
// others.
type lazyChunks struct {
	src     io.ReaderAt
	base    int64                    // file offset of the chunk table
	checked []atomic.Pointer[[]byte] // per file entry, once checked
}

func (l *lazyChunks) chunks(i, first, n uint64, digest [32]byte) ([]byte, error) {
	if p := l.checked[i].Load(); p != nil {
		return *p, nil
	}
	buf := make([]byte, n*chunkHashSize)
	if n > 0 {
		if _, err := l.src.ReadAt(buf, l.base+int64(first*chunkHashSize)); err != nil {
			return nil, fmt.Errorf("read its chunk hashes: %w (%w)", ErrCorruptIndex, err)
		}
	}
	if sha256.Sum256(buf) != digest {
		return nil, fmt.Errorf("its chunk hashes differ from the digest the signed hash covers: %w; re-run `nacre sign`", ErrIndexHash)
	}
	l.checked[i].Store(&buf)
	return buf, nil
}

func (l *lazyChunks) close() error {
	if c, ok := l.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// WriteIndex writes the version 2 chunk index of files (host path →
// expected whole-file SHA-256) to w from offset 0, and returns the SHA-256
// that the signed manifest must bind (that of the head). Like BuildIndex, it
// reads every file once and fails with ErrHashMismatch if one does not have
// the expected hash; progress, if not nil, is called with the bytes hashed
// so far and the total. On error, w holds a partial index to discard.
func WriteIndex(w io.WriterAt, files map[string][32]byte, progress func(done, total int64)) ([32]byte, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		if p == "" || len(p) > maxIndexedPath || !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return [32]byte{}, fmt.Errorf("build chunk index: %q is not a clean absolute path of at most %d bytes", p, maxIndexedPath)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths) // byte order, which Lookup's binary search compares
	sizes := make([]int64, len(paths))
	var total, chunks, strs int64
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return [32]byte{}, fmt.Errorf("build chunk index: %w", err)
		}
		if !st.Mode().IsRegular() {
			return [32]byte{}, fmt.Errorf("build chunk index: trusted file %s is not a regular file", p)
		}
		sizes[i] = st.Size()
		total += st.Size()
		chunks += chunkCount(st.Size())
		strs += int64(len(p))
	}
	head := make([]byte, headerSize+entrySize2*len(paths)+int(strs))

	// The chunk table first, after the head, collecting each file's digest.
	bw := bufio.NewWriterSize(io.NewOffsetWriter(w, int64(len(head))), 1<<20)
	buf := make([]byte, 1<<20) // a multiple of ChunkSize
	var done int64
	digests := make([][32]byte, len(paths))
	for i, p := range paths {
		list := sha256.New()
		n, err := hashChunks(p, sizes[i], files[p], buf, io.MultiWriter(bw, list), func(d int64) {
			done += d
			if progress != nil {
				progress(done, total)
			}
		})
		if err != nil {
			return [32]byte{}, fmt.Errorf("build chunk index: %w", err)
		}
		if n != sizes[i] {
			return [32]byte{}, fmt.Errorf("build chunk index: %s changed size while being read (%d, then %d bytes): %w", p, sizes[i], n, ErrHashMismatch)
		}
		list.Sum(digests[i][:0])
	}
	if err := bw.Flush(); err != nil {
		return [32]byte{}, fmt.Errorf("build chunk index: write: %w", err)
	}

	le := binary.LittleEndian
	copy(head, indexMagic)
	le.PutUint32(head[8:], indexVersion2)
	le.PutUint32(head[12:], ChunkSize)
	le.PutUint64(head[16:], uint64(len(paths)))
	le.PutUint64(head[24:], uint64(chunks))
	le.PutUint64(head[32:], uint64(strs))
	var first, strOff int64
	strs0 := headerSize + entrySize2*len(paths)
	for i, p := range paths {
		e := head[headerSize+entrySize2*i:][:entrySize2]
		le.PutUint64(e[0:], uint64(strOff))
		le.PutUint32(e[8:], uint32(len(p)))
		le.PutUint64(e[16:], uint64(sizes[i]))
		le.PutUint64(e[24:], uint64(first))
		sum := files[p]
		copy(e[32:64], sum[:])
		copy(e[64:96], digests[i][:])
		copy(head[strs0+int(strOff):], p)
		first += chunkCount(sizes[i])
		strOff += int64(len(p))
	}
	if _, err := w.WriteAt(head, 0); err != nil {
		return [32]byte{}, fmt.Errorf("build chunk index: write: %w", err)
	}
	return sha256.Sum256(head), nil
}
