package trustedfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Layout of a chunk index; docs/spec/chunk-index.md is the normative text.
const (
	// ChunkSize is the unit of verification: every trusted file is hashed in
	// 16 KiB pieces, the last one possibly shorter.
	ChunkSize = 16 << 10

	indexMagic     = "NACRECIX"
	indexVersion   = 1 // what BuildIndex writes; WriteIndex writes indexVersion2
	headerSize     = 64
	entrySize      = 64 // version 1; entrySize2 in version 2
	chunkHashSize  = sha256.Size
	maxIndexedPath = 4096
	// maxIndexSize bounds what OpenIndex reads into memory: 1 GiB of index
	// covers 512 TiB of trusted files.
	maxIndexSize = 1 << 30
)

var (
	// ErrCorruptIndex reports a chunk index whose structure is invalid.
	ErrCorruptIndex = errors.New("trustedfs: corrupt chunk index")
	// ErrIndexHash reports a chunk index whose SHA-256 differs from the one the
	// manifest binds: the index was replaced or damaged after signing.
	ErrIndexHash = errors.New("trustedfs: chunk index SHA-256 does not match the manifest")
)

// Index is a read-only chunk index held in memory. Opening it checks its
// SHA-256 and its header; entries are decoded only when looked up.
type Index struct {
	data     []byte // version 1: the whole file; version 2: its head (index_v2.go)
	n        uint64 // file entries
	c        uint64 // chunk hashes
	chunkOff uint64 // offset of the chunk table (version 1)
	strOff   uint64 // offset of the string table
	strLen   uint64
	entSize  uint64 // bytes per file entry

	v2 *lazyChunks // version 2: chunk lists read and checked on first use
}

// IndexEntry is what the index records for one trusted host file.
type IndexEntry struct {
	Path   string
	Size   int64
	SHA256 [32]byte
	// chunks holds the SHA-256 of every chunk, 32 bytes each, in file order.
	chunks []byte
}

// OpenIndex loads the chunk index at path, checks that its SHA-256 is
// wantSHA256 (the value bound into the signed manifest) and that its header is
// consistent with its length. Entries are decoded only when Lookup reads them.
//
// The index is read into private memory rather than mapped from the file: a
// shared mapping would let the host change chunk hashes after the whole-index
// hash was checked. Reading ~3 MiB per GiB of trusted files costs about as
// much as hashing it, which has to happen anyway.
func OpenIndex(path string, wantSHA256 [32]byte) (*Index, error) {
	return LoadIndex(path).Wait(wantSHA256)
}

// PendingIndex is a chunk index being read and hashed in the background; see
// LoadIndex.
type PendingIndex struct {
	path string
	done chan struct{}
	data []byte
	sum  [32]byte
	err  error
	// Version 2: data is the head, sum its SHA-256, f the open file for
	// the chunk table, size its length.
	f    *os.File
	size int64
}

// LoadIndex starts reading and hashing the chunk index at path on another
// goroutine, before the caller knows the SHA-256 it must have: nacre run
// overlaps this with parsing and verifying the signed manifest that holds it
// (~15 ms for 7,900 files, most of it on the otherwise idle second core).
// Wait checks the result. The bytes checked are the bytes kept, so nothing
// is trusted earlier than with OpenIndex.
func LoadIndex(path string) *PendingIndex {
	p := &PendingIndex{path: path, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.data, p.f, p.size, p.err = readIndexFile(path)
		if p.err == nil {
			p.sum = sha256.Sum256(p.data)
		}
	}()
	return p
}

// Path returns the file being loaded.
func (p *PendingIndex) Path() string { return p.path }

// Wait returns the index once it is read, after checking that its SHA-256 is
// wantSHA256 and its header is consistent with its length.
func (p *PendingIndex) Wait(wantSHA256 [32]byte) (*Index, error) {
	<-p.done
	if p.err != nil {
		return nil, p.err
	}
	if p.sum != wantSHA256 {
		p.closeFile() // refused: nothing will read its chunk table
		return nil, fmt.Errorf("chunk index %s: %w; re-run `nacre sign`", p.path, ErrIndexHash)
	}
	var ix *Index
	var err error
	if p.f != nil {
		ix, err = parseHead(p.data, p.f, p.size)
	} else {
		ix, err = parseIndex(p.data)
	}
	if err != nil {
		p.closeFile()
		return nil, fmt.Errorf("chunk index %s: %w", p.path, err)
	}
	return ix, nil
}

// closeFile closes the version 2 index file that Wait refused.
func (p *PendingIndex) closeFile() {
	if p.f != nil {
		p.f.Close()
	}
}

// readIndexFile reads a version 1 index whole. Of a version 2 index it reads
// the head (what the manifest's hash covers) and returns the open file and its
// size for the chunk table, which is read on first use.
func readIndexFile(path string) (data []byte, f *os.File, size int64, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open chunk index: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("stat chunk index %s: %w", path, err)
	}
	if st.Size() < headerSize {
		return nil, nil, 0, fmt.Errorf("chunk index %s: %d bytes, shorter than the %d-byte header: %w", path, st.Size(), headerSize, ErrCorruptIndex)
	}
	if st.Size() > maxIndexSize {
		return nil, nil, 0, fmt.Errorf("chunk index %s: %d bytes, more than the %d this build accepts: %w", path, st.Size(), int64(maxIndexSize), ErrCorruptIndex)
	}
	var hdr [headerSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, nil, 0, fmt.Errorf("read chunk index %s: %w", path, err)
	}
	n := st.Size()
	if binary.LittleEndian.Uint32(hdr[8:]) == indexVersion2 {
		if n, err = headLen(hdr[:], st.Size()); err != nil {
			return nil, nil, 0, fmt.Errorf("chunk index %s: %w", path, err)
		}
	}
	data = make([]byte, n)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, nil, 0, fmt.Errorf("read chunk index %s: %w", path, err)
	}
	if n == st.Size() {
		return data, nil, 0, nil
	}
	keep = true
	return data, f, st.Size(), nil
}

// parseIndex checks the header of data and the table sizes it implies.
func parseIndex(data []byte) (*Index, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("%d bytes, shorter than the header: %w", len(data), ErrCorruptIndex)
	}
	if string(data[:8]) != indexMagic {
		return nil, fmt.Errorf("bad magic %q: %w", data[:8], ErrCorruptIndex)
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v == indexVersion2 {
		n, err := headLen(data, int64(len(data)))
		if err != nil {
			return nil, err
		}
		return parseHead(data[:n], bytes.NewReader(data), int64(len(data)))
	} else if v != indexVersion {
		return nil, fmt.Errorf("version %d: %w: this nacre reads versions %d and %d; re-run `nacre sign` with this nacre", v, ErrCorruptIndex, indexVersion, indexVersion2)
	}
	if cs := le.Uint32(data[12:]); cs != ChunkSize {
		return nil, fmt.Errorf("chunk size %d, want %d: %w", cs, ChunkSize, ErrCorruptIndex)
	}
	for _, b := range data[40:headerSize] {
		if b != 0 {
			return nil, fmt.Errorf("reserved header bytes are not zero: %w", ErrCorruptIndex)
		}
	}
	n, c, s := le.Uint64(data[16:]), le.Uint64(data[24:]), le.Uint64(data[32:])
	size := uint64(len(data)) - headerSize
	// Compare with the remaining length before multiplying, so that no
	// product can overflow.
	if n > size/entrySize {
		return nil, fmt.Errorf("%d file entries do not fit: %w", n, ErrCorruptIndex)
	}
	size -= n * entrySize
	if c > size/chunkHashSize {
		return nil, fmt.Errorf("%d chunk hashes do not fit: %w", c, ErrCorruptIndex)
	}
	size -= c * chunkHashSize
	if s != size {
		return nil, fmt.Errorf("string table is %d bytes but %d remain: %w", s, size, ErrCorruptIndex)
	}
	chunkOff := headerSize + n*entrySize
	return &Index{data: data, n: n, c: c, chunkOff: chunkOff, strOff: chunkOff + c*chunkHashSize, strLen: s, entSize: entrySize}, nil
}

// Len returns the number of files in the index.
func (ix *Index) Len() int { return int(ix.n) }

// Close releases the index. Entries returned by Lookup stay valid.
func (ix *Index) Close() error {
	ix.data = nil
	if ix.v2 != nil {
		return ix.v2.close()
	}
	return nil
}

// entryPath returns the path bytes of entry i, checking their bounds.
func (ix *Index) entryPath(i uint64) ([]byte, error) {
	e := ix.data[headerSize+i*ix.entSize:][:ix.entSize]
	le := binary.LittleEndian
	off, l := le.Uint64(e[0:]), uint64(le.Uint32(e[8:]))
	if l == 0 || l > maxIndexedPath || off > ix.strLen || l > ix.strLen-off || le.Uint32(e[12:]) != 0 {
		return nil, fmt.Errorf("file entry %d: bad path reference: %w", i, ErrCorruptIndex)
	}
	return ix.data[ix.strOff+off:][:l], nil
}

// Lookup finds the entry for a host path by binary search over the sorted file
// table. It reports ErrCorruptIndex when an entry it reads is malformed.
func (ix *Index) Lookup(path string) (IndexEntry, bool, error) {
	if ix == nil || ix.data == nil {
		return IndexEntry{}, false, nil
	}
	want := []byte(path)
	var ferr error
	i := sort.Search(int(ix.n), func(i int) bool {
		p, err := ix.entryPath(uint64(i))
		if err != nil {
			ferr = err
			return true
		}
		return bytes.Compare(p, want) >= 0
	})
	if ferr != nil {
		return IndexEntry{}, false, ferr
	}
	if uint64(i) >= ix.n {
		return IndexEntry{}, false, nil
	}
	p, err := ix.entryPath(uint64(i))
	if err != nil {
		return IndexEntry{}, false, err
	}
	if !bytes.Equal(p, want) {
		return IndexEntry{}, false, nil
	}
	e, err := ix.entry(uint64(i), path)
	if err != nil {
		return IndexEntry{}, false, err
	}
	return e, true, nil
}

// entry decodes file entry i, whose path is already known.
func (ix *Index) entry(i uint64, path string) (IndexEntry, error) {
	e := ix.data[headerSize+i*ix.entSize:][:ix.entSize]
	le := binary.LittleEndian
	size, first := le.Uint64(e[16:]), le.Uint64(e[24:])
	if size > 1<<62 {
		return IndexEntry{}, fmt.Errorf("file entry %d (%s): size %d: %w", i, path, size, ErrCorruptIndex)
	}
	nchunks := chunkCount(int64(size))
	if first > ix.c || uint64(nchunks) > ix.c-first {
		return IndexEntry{}, fmt.Errorf("file entry %d (%s): chunks %d+%d outside the table of %d: %w", i, path, first, nchunks, ix.c, ErrCorruptIndex)
	}
	out := IndexEntry{Path: path, Size: int64(size)}
	copy(out.SHA256[:], e[32:64])
	if ix.v2 != nil {
		chunks, err := ix.v2.chunks(i, first, uint64(nchunks), [32]byte(e[64:96]))
		if err != nil {
			return IndexEntry{}, fmt.Errorf("file entry %d (%s): %w", i, path, err)
		}
		out.chunks = chunks
		return out, nil
	}
	out.chunks = ix.data[ix.chunkOff+first*chunkHashSize:][:uint64(nchunks)*chunkHashSize]
	return out, nil
}

// chunkCount is the number of chunks of a file of the given size.
func chunkCount(size int64) int64 { return (size + ChunkSize - 1) / ChunkSize }
