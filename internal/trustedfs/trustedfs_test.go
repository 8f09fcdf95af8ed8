package trustedfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// writeFile creates a file of n deterministic pseudo-random bytes.
func writeFile(t testing.TB, dir, name string, n int, seed uint64) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// buildIndex writes the index of files to dir/index and returns its path and hash.
func buildIndex(t testing.TB, dir string, files map[string][32]byte) (string, [32]byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := BuildIndex(&buf, files, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "index")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, sha256.Sum256(buf.Bytes())
}

func sizes() []int {
	return []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 5*ChunkSize + 77, 3 * ChunkSize}
}

func TestIndexRoundTrip(t *testing.T) {
	dir := t.TempDir()
	files := map[string][32]byte{}
	content := map[string][]byte{}
	for i, n := range sizes() {
		p, b := writeFile(t, dir, "f"+string(rune('a'+i)), n, uint64(i))
		files[p] = sha256.Sum256(b)
		content[p] = b
	}
	var progressed int64
	var buf bytes.Buffer
	if err := BuildIndex(&buf, files, func(done, total int64) { progressed = done }); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, b := range content {
		total += int64(len(b))
	}
	if progressed != total {
		t.Errorf("progress ended at %d, want %d", progressed, total)
	}
	ip := filepath.Join(dir, "index")
	os.WriteFile(ip, buf.Bytes(), 0o644)
	ix, err := OpenIndex(ip, sha256.Sum256(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != len(files) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(files))
	}
	for p, b := range content {
		e, ok, err := ix.Lookup(p)
		if err != nil || !ok {
			t.Fatalf("Lookup(%s) = %v, %v", p, ok, err)
		}
		if e.Size != int64(len(b)) || e.SHA256 != sha256.Sum256(b) {
			t.Errorf("%s: size %d hash %x", p, e.Size, e.SHA256)
		}
		if int64(len(e.chunks)) != chunkCount(int64(len(b)))*32 {
			t.Errorf("%s: %d chunk hash bytes", p, len(e.chunks))
		}
		for i := int64(0); i*ChunkSize < int64(len(b)); i++ {
			want := sha256.Sum256(b[i*ChunkSize : min((i+1)*ChunkSize, int64(len(b)))])
			if !bytes.Equal(e.chunks[i*32:i*32+32], want[:]) {
				t.Errorf("%s chunk %d: wrong hash", p, i)
			}
		}
	}
	for _, missing := range []string{"/", dir, dir + "/fz", dir + "/f", "/zzz"} {
		if _, ok, err := ix.Lookup(missing); ok || err != nil {
			t.Errorf("Lookup(%s) = %v, %v; want not found", missing, ok, err)
		}
	}
}

// TestIndexKnownAnswer pins the format: two files with fixed content give
// fixed bytes (docs/spec/chunk-index.md walks through this example).
func TestIndexKnownAnswer(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	os.WriteFile(a, []byte("hello\n"), 0o644)
	b := filepath.Join(dir, "b")
	os.WriteFile(b, bytes.Repeat([]byte{'x'}, ChunkSize+1), 0o644)
	files := map[string][32]byte{a: sha256.Sum256([]byte("hello\n")), b: sha256.Sum256(bytes.Repeat([]byte{'x'}, ChunkSize+1))}
	var buf bytes.Buffer
	if err := BuildIndex(&buf, files, nil); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	// Header.
	wantHdr := "4e41435245434958" + "01000000" + "00400000" + "0200000000000000" + "0300000000000000" +
		hex.EncodeToString(le64(uint64(len(a)+len(b)))) + "000000000000000000000000000000000000000000000000"
	if h := hex.EncodeToString(got[:headerSize]); h != wantHdr {
		t.Fatalf("header\n got %s\nwant %s", h, wantHdr)
	}
	// First entry: path a at string offset 0, size 6, first chunk 0.
	e0 := got[headerSize : headerSize+entrySize]
	if hex.EncodeToString(e0[:32]) != "0000000000000000"+hex.EncodeToString(le32(uint32(len(a))))+"00000000"+"0600000000000000"+"0000000000000000" {
		t.Errorf("entry 0: %x", e0[:32])
	}
	// Second entry: first chunk 1, size 16385.
	e1 := got[headerSize+entrySize : headerSize+2*entrySize]
	if le := hex.EncodeToString(e1[16:32]); le != "0140000000000000"+"0100000000000000" {
		t.Errorf("entry 1 size/first chunk: %s", le)
	}
	// Chunk table: SHA-256("hello\n"), SHA-256(16384 x), SHA-256("x").
	ct := got[headerSize+2*entrySize:]
	for i, want := range []string{
		"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
		hex.EncodeToString(sum(bytes.Repeat([]byte{'x'}, ChunkSize))),
		"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
	} {
		if h := hex.EncodeToString(ct[i*32 : i*32+32]); h != want {
			t.Errorf("chunk %d: %s want %s", i, h, want)
		}
	}
	if string(got[len(got)-len(a)-len(b):]) != a+b {
		t.Errorf("string table: %q", got[len(got)-len(a)-len(b):])
	}
}

func le64(v uint64) []byte { b := make([]byte, 8); putLE(b, v); return b }
func le32(v uint32) []byte { b := make([]byte, 4); putLE(b, uint64(v)); return b }
func putLE(b []byte, v uint64) {
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
}
func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestIndexTamper(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 3*ChunkSize, 7)
	ip, h := buildIndex(t, dir, map[string][32]byte{p: sha256.Sum256(b)})
	data, _ := os.ReadFile(ip)
	for _, off := range []int{0, 20, headerSize + 40, len(data) - 1, len(data) - 40} {
		bad := bytes.Clone(data)
		bad[off] ^= 1
		os.WriteFile(ip, bad, 0o644)
		if _, err := OpenIndex(ip, h); !errors.Is(err, ErrIndexHash) {
			t.Errorf("byte %d flipped: OpenIndex err = %v, want ErrIndexHash", off, err)
		}
	}
	if _, err := OpenIndex(filepath.Join(dir, "missing"), h); err == nil {
		t.Error("OpenIndex of a missing file succeeded")
	}
}

// TestIndexPrefixes: every truncated prefix of a valid index is rejected.
func TestIndexPrefixes(t *testing.T) {
	dir := t.TempDir()
	p1, b1 := writeFile(t, dir, "f1", ChunkSize+5, 1)
	p2, b2 := writeFile(t, dir, "f2", 10, 2)
	var buf bytes.Buffer
	if err := BuildIndex(&buf, map[string][32]byte{p1: sha256.Sum256(b1), p2: sha256.Sum256(b2)}, nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if _, err := parseIndex(data); err != nil {
		t.Fatalf("full index: %v", err)
	}
	for n := 0; n < len(data); n++ {
		if _, err := parseIndex(data[:n]); !errors.Is(err, ErrCorruptIndex) {
			t.Fatalf("prefix of %d bytes: err = %v", n, err)
		}
		ip := filepath.Join(dir, "prefix")
		os.WriteFile(ip, data[:n], 0o644)
		if _, err := OpenIndex(ip, sha256.Sum256(data[:n])); err == nil {
			t.Fatalf("OpenIndex accepted a prefix of %d bytes", n)
		}
	}
}

func TestBuildIndexMismatch(t *testing.T) {
	dir := t.TempDir()
	p, _ := writeFile(t, dir, "f", 100, 1)
	err := BuildIndex(io.Discard, map[string][32]byte{p: {1}}, nil)
	if !errors.Is(err, ErrHashMismatch) {
		t.Errorf("err = %v, want ErrHashMismatch", err)
	}
	if err := BuildIndex(io.Discard, map[string][32]byte{"relative": {}}, nil); err == nil {
		t.Error("relative path accepted")
	}
	if err := BuildIndex(io.Discard, map[string][32]byte{dir: {}}, nil); err == nil {
		t.Error("directory accepted")
	}
}

// openTrusted opens p through a Set, with or without an index.
func openTrusted(t testing.TB, p string, want [32]byte, withIndex bool) *File {
	t.Helper()
	s := NewSet(map[string][32]byte{p: want})
	if withIndex {
		ip, h := buildIndex(t, t.TempDir(), map[string][32]byte{p: want})
		ix, err := OpenIndex(ip, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AttachIndex(ix); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := s.Open(p, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tf.Close() })
	return tf
}

func TestFileReadAt(t *testing.T) {
	for _, withIndex := range []bool{false, true} {
		for _, n := range sizes() {
			dir := t.TempDir()
			p, b := writeFile(t, dir, "f", n, uint64(n))
			tf := openTrusted(t, p, sha256.Sum256(b), withIndex)
			if tf.Size() != int64(n) {
				t.Fatalf("Size = %d, want %d", tf.Size(), n)
			}
			for _, r := range [][2]int{{0, n}, {0, ChunkSize}, {1, 10}, {ChunkSize - 3, 7}, {n / 2, n}, {n, 1}, {0, 2 * n}} {
				off, l := r[0], r[1]
				p := make([]byte, l)
				m, err := tf.ReadAt(p, int64(off))
				want := b[min(off, n):min(off+l, n)]
				if m != len(want) || !bytes.Equal(p[:m], want) {
					t.Errorf("index=%v size %d: ReadAt(%d, %d) = %d bytes, want %d", withIndex, n, off, l, m, len(want))
				}
				if (m < l) != (err == io.EOF) {
					t.Errorf("index=%v size %d: ReadAt(%d, %d) err = %v", withIndex, n, off, l, err)
				}
			}
		}
	}
}

func TestFileTamper(t *testing.T) {
	for _, withIndex := range []bool{false, true} {
		dir := t.TempDir()
		p, b := writeFile(t, dir, "f", 4*ChunkSize+100, 3)
		tf := openTrusted(t, p, sha256.Sum256(b), withIndex)
		buf := make([]byte, 10)
		if _, err := tf.ReadAt(buf, 2*ChunkSize+5); err != nil {
			t.Fatal(err)
		}
		// Change one byte of chunk 2 on the host: the re-read must fail and
		// leave no byte in the buffer.
		w, _ := os.OpenFile(p, os.O_WRONLY, 0)
		w.WriteAt([]byte{b[2*ChunkSize+9] ^ 0xff}, 2*ChunkSize+9)
		w.Close()
		buf = bytes.Repeat([]byte{0xAA}, 10)
		if _, err := tf.ReadAt(buf, 2*ChunkSize+5); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("index=%v: tampered read err = %v, want ErrHashMismatch", withIndex, err)
		}
		if !bytes.Equal(buf, make([]byte, 10)) {
			t.Errorf("index=%v: buffer after failed read: %x", withIndex, buf)
		}
		aligned := make([]byte, 2*ChunkSize)
		if _, err := tf.ReadAt(aligned, 2*ChunkSize); !errors.Is(err, ErrHashMismatch) || !bytes.Equal(aligned, make([]byte, len(aligned))) {
			t.Errorf("index=%v: aligned tampered read err = %v", withIndex, err)
		}
		// Other chunks still read.
		if _, err := tf.ReadAt(buf, 0); err != nil {
			t.Errorf("index=%v: untouched chunk: %v", withIndex, err)
		}
		// Truncation on the host is detected too.
		os.Truncate(p, ChunkSize)
		if _, err := tf.ReadAt(buf, 3*ChunkSize); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("index=%v: truncated read err = %v", withIndex, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 100, 1)
	s := NewSet(map[string][32]byte{p: sha256.Sum256(b)})
	f, _ := os.Open(p)
	if _, err := s.Open(p+"x", f); !errors.Is(err, ErrNotTrusted) {
		t.Errorf("untrusted: %v", err)
	}
	bad := NewSet(map[string][32]byte{p: {9}})
	f, _ = os.Open(p)
	if _, err := bad.Open(p, f); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("wrong hash: %v", err)
	}
	// An index that disagrees with the manifest is refused.
	ip, h := buildIndex(t, t.TempDir(), map[string][32]byte{p: sha256.Sum256(b)})
	ix, _ := OpenIndex(ip, h)
	other := NewSet(map[string][32]byte{p: {7}})
	other.AttachIndex(ix)
	f, _ = os.Open(p)
	if _, err := other.Open(p, f); !errors.Is(err, ErrIndexMismatch) {
		t.Errorf("index mismatch: %v", err)
	}
	if _, ok := other.Size(p); ok {
		t.Error("Size trusted a disagreeing index entry")
	}
	if sz, ok := func() (int64, bool) { s.AttachIndex(ix); return s.Size(p) }(); !ok || sz != 100 {
		t.Errorf("Size = %d, %v", sz, ok)
	}
}

func FuzzOpenIndex(f *testing.F) {
	dir := f.TempDir()
	p1, b1 := writeFile(f, dir, "f1", ChunkSize+5, 1)
	p2, b2 := writeFile(f, dir, "f2", 10, 2)
	var buf bytes.Buffer
	BuildIndex(&buf, map[string][32]byte{p1: sha256.Sum256(b1), p2: sha256.Sum256(b2)}, nil)
	f.Add(buf.Bytes(), p1)
	f.Add(buf.Bytes()[:100], p2)
	f.Add([]byte(indexMagic), "/")
	// OpenIndex is read + SHA-256 + parseIndex; fuzz the parser directly so
	// that the fuzzer is not slowed down by file I/O.
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		ix, err := parseIndex(data)
		if err != nil {
			return
		}
		e, ok, err := ix.Lookup(path)
		if ok && err == nil && int64(len(e.chunks)) != chunkCount(e.Size)*32 {
			t.Fatalf("entry %q: %d chunk bytes for size %d", path, len(e.chunks), e.Size)
		}
		for i := 0; i < ix.Len() && i < 64; i++ {
			if p, err := ix.entryPath(uint64(i)); err == nil {
				ix.Lookup(string(p))
			}
		}
	})
}
