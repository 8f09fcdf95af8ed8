package trustedfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIndex2 writes the version 2 index of files to dir/index2 and returns
// its path and the digest to bind.
func writeIndex2(t testing.TB, dir string, files map[string][32]byte) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(dir, "index2")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := WriteIndex(f, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

func TestIndexV2RoundTrip(t *testing.T) {
	dir := t.TempDir()
	files := map[string][32]byte{}
	content := map[string][]byte{}
	for i, n := range sizes() {
		p, b := writeFile(t, dir, "f"+string(rune('a'+i)), n, uint64(i))
		files[p] = sha256.Sum256(b)
		content[p] = b
	}
	ip, digest := writeIndex2(t, dir, files)
	data, _ := os.ReadFile(ip)
	if binary.LittleEndian.Uint32(data[8:]) != indexVersion2 {
		t.Fatalf("version %d", binary.LittleEndian.Uint32(data[8:]))
	}
	hl, err := headLen(data, int64(len(data)))
	if err != nil || digest != sha256.Sum256(data[:hl]) {
		t.Fatalf("digest is not the SHA-256 of the head (%d bytes, %v)", hl, err)
	}
	// The hash of the whole file (version 1's binding) is not accepted.
	if _, err := OpenIndex(ip, sha256.Sum256(data)); !errors.Is(err, ErrIndexHash) {
		t.Errorf("whole-file hash: err = %v, want ErrIndexHash", err)
	}
	for _, open := range []func() (*Index, error){
		func() (*Index, error) { return OpenIndex(ip, digest) },
		func() (*Index, error) { return parseIndex(data) },
	} {
		ix, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if ix.Len() != len(files) {
			t.Fatalf("Len = %d, want %d", ix.Len(), len(files))
		}
		for range 2 { // the second lookup uses the checked copy
			for p, b := range content {
				e, ok, err := ix.Lookup(p)
				if err != nil || !ok {
					t.Fatalf("Lookup(%s) = %v, %v", p, ok, err)
				}
				if e.Size != int64(len(b)) || e.SHA256 != sha256.Sum256(b) {
					t.Errorf("%s: size %d hash %x", p, e.Size, e.SHA256)
				}
				var want []byte
				for i := 0; i < len(b); i += ChunkSize {
					want = append(want, sum(b[i:min(i+ChunkSize, len(b))])...)
				}
				if !bytes.Equal(e.chunks, want) {
					t.Errorf("%s: wrong chunk hashes", p)
				}
			}
		}
		for _, missing := range []string{"/", dir, dir + "/fz", "/zzz"} {
			if _, ok, err := ix.Lookup(missing); ok || err != nil {
				t.Errorf("Lookup(%s) = %v, %v; want not found", missing, ok, err)
			}
		}
		ix.Close()
	}
}

// Any change to the head is refused before use; a change to a file's chunk
// hashes makes that file's lookup fail (and only that file's), also when
// the change happens after the index was opened, until the file was looked
// up once (its checked hashes are private from then on).
func TestIndexV2Tamper(t *testing.T) {
	dir := t.TempDir()
	p1, b1 := writeFile(t, dir, "f1", 3*ChunkSize, 7)
	p2, b2 := writeFile(t, dir, "f2", ChunkSize+1, 8)
	ip, digest := writeIndex2(t, dir, map[string][32]byte{p1: sha256.Sum256(b1), p2: sha256.Sum256(b2)})
	data, _ := os.ReadFile(ip)
	hl, _ := headLen(data, int64(len(data)))
	for _, off := range []int{0, 9, 20, headerSize + 3, headerSize + 40, headerSize + 70, headerSize + entrySize2 + 90, int(hl) - 1} {
		bad := bytes.Clone(data)
		bad[off] ^= 1
		os.WriteFile(ip, bad, 0o644)
		if _, err := OpenIndex(ip, digest); err == nil {
			t.Errorf("byte %d of the head flipped: OpenIndex succeeded", off)
		}
	}
	// Wrong length of the chunk table: refused at open.
	for _, bad := range [][]byte{data[:len(data)-1], data[:len(data)-32], append(bytes.Clone(data), make([]byte, 32)...)} {
		os.WriteFile(ip, bad, 0o644)
		if _, err := OpenIndex(ip, digest); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%d bytes: err = %v, want ErrCorruptIndex", len(bad), err)
		}
	}
	// f1's chunks come first in the chunk table (path order).
	for _, off := range []int{int(hl), int(hl) + 3*32 - 1} {
		bad := bytes.Clone(data)
		bad[off] ^= 1
		os.WriteFile(ip, bad, 0o644)
		ix, err := OpenIndex(ip, digest)
		if err != nil {
			t.Fatalf("chunk byte %d flipped: OpenIndex: %v (the head is intact)", off, err)
		}
		if _, _, err := ix.Lookup(p1); !errors.Is(err, ErrIndexHash) {
			t.Errorf("chunk byte %d flipped: Lookup(f1) err = %v, want ErrIndexHash", off, err)
		}
		if _, ok, err := ix.Lookup(p2); !ok || err != nil {
			t.Errorf("chunk byte %d flipped: Lookup(f2) = %v, %v", off, ok, err)
		}
		s := NewSet(map[string][32]byte{p1: sha256.Sum256(b1)})
		s.AttachIndex(ix)
		f, _ := os.Open(p1)
		if _, err := s.Open(p1, f); !errors.Is(err, ErrIndexHash) {
			t.Errorf("chunk byte %d flipped: Set.Open err = %v, want ErrIndexHash", off, err)
		}
		ix.Close()
	}
	// Changed after open: caught at first lookup; ignored after it.
	os.WriteFile(ip, data, 0o644)
	ix, err := OpenIndex(ip, digest)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, ok, err := ix.Lookup(p2); !ok || err != nil {
		t.Fatalf("Lookup(f2) = %v, %v", ok, err)
	}
	w, _ := os.OpenFile(ip, os.O_WRONLY, 0)
	w.WriteAt(make([]byte, 5*32), hl)
	w.Close()
	if _, _, err := ix.Lookup(p1); !errors.Is(err, ErrIndexHash) {
		t.Errorf("changed after open: Lookup(f1) err = %v, want ErrIndexHash", err)
	}
	if e, ok, err := ix.Lookup(p2); !ok || err != nil || !bytes.Equal(e.chunks[:32], sum(b2[:ChunkSize])) {
		t.Errorf("checked before the change: Lookup(f2) = %v, %v", ok, err)
	}
	os.Truncate(ip, hl)
	if _, _, err := ix.Lookup(p1); !errors.Is(err, ErrCorruptIndex) {
		t.Errorf("truncated after open: Lookup(f1) err = %v, want ErrCorruptIndex", err)
	}
}

func TestIndexV2Versions(t *testing.T) {
	dir := t.TempDir()
	p, b := writeFile(t, dir, "f", 10, 1)
	ip, digest := writeIndex2(t, dir, map[string][32]byte{p: sha256.Sum256(b)})
	data, _ := os.ReadFile(ip)
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[8:], 3)
	if _, err := parseIndex(bad); !errors.Is(err, ErrCorruptIndex) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("version 3: err = %v", err)
	}
	os.WriteFile(ip, bad, 0o644)
	if _, err := OpenIndex(ip, sha256.Sum256(bad)); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("version 3 with a matching whole-file hash: err = %v", err)
	}
	// A version 2 head relabelled version 1 (or the reverse) fails: the
	// version is covered by the hash.
	binary.LittleEndian.PutUint32(bad[8:], indexVersion)
	os.WriteFile(ip, bad, 0o644)
	if _, err := OpenIndex(ip, digest); err == nil {
		t.Error("a version 2 index relabelled version 1 was accepted")
	}
	// Every prefix of a valid index is refused.
	for n := range len(data) {
		if _, err := parseIndex(data[:n]); !errors.Is(err, ErrCorruptIndex) {
			t.Fatalf("prefix of %d bytes: err = %v", n, err)
		}
	}
	// An index of empty files only has no chunk table.
	e := filepath.Join(dir, "empty")
	os.WriteFile(e, nil, 0o644)
	ip, digest = writeIndex2(t, t.TempDir(), map[string][32]byte{e: sha256.Sum256(nil)})
	ix, err := OpenIndex(ip, digest)
	if err != nil {
		t.Fatal(err)
	}
	if en, ok, err := ix.Lookup(e); !ok || err != nil || en.Size != 0 || len(en.chunks) != 0 {
		t.Errorf("empty file: %+v, %v, %v", en, ok, err)
	}
}

func FuzzOpenIndexV2(f *testing.F) {
	dir := f.TempDir()
	p1, b1 := writeFile(f, dir, "f1", ChunkSize+5, 1)
	p2, b2 := writeFile(f, dir, "f2", 10, 2)
	ip, _ := writeIndex2(f, dir, map[string][32]byte{p1: sha256.Sum256(b1), p2: sha256.Sum256(b2)})
	data, _ := os.ReadFile(ip)
	f.Add(data, p1)
	f.Add(data[:200], p2)
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

// NewSetOwned holds exactly the entries it was given, like NewSet.
func TestNewSetOwned(t *testing.T) {
	sum := [32]byte{1}
	s := NewSetOwned(map[string][32]byte{"/a/b": sum})
	if s.Len() != 1 || !s.Contains("/a/b") || s.Contains("/a/c") {
		t.Fatalf("NewSetOwned: len %d, contains /a/b %t, /a/c %t", s.Len(), s.Contains("/a/b"), s.Contains("/a/c"))
	}
}
