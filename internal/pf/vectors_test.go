package pf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Vectors made by Gramine's C implementation; see testdata/gramine/README.md.
const vecDir = "testdata/gramine"

type vector struct {
	File            string `json:"file"`
	KeyHex          string `json:"key_hex"`
	BoundPath       string `json:"bound_path"`
	Expected        string `json:"expected"`
	Case            string `json:"case"`
	Randomness      string `json:"randomness"`
	PlaintextSize   int    `json:"plaintext_size"`
	PlaintextSHA256 string `json:"plaintext_sha256"`
	RandomBytes     int    `json:"random_bytes_consumed"`
	EncryptedSHA256 string `json:"encrypted_sha256"`
	RecoveryFile    string `json:"recovery_file"`
}

type tamperSet struct {
	Base      string `json:"base"`
	KeyHex    string `json:"key_hex"`
	BoundPath string `json:"bound_path"`
	Variants  []struct {
		File     string `json:"file"`
		Expected string `json:"expected"`
		Size     int    `json:"size"`
	} `json:"variants"`
}

type manifest struct {
	Vectors []vector  `json:"vectors"`
	Tamper  tamperSet `json:"tamper"`
}

func loadManifest(t testing.TB) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vecDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func hexKey(t testing.TB, s string) [16]byte {
	t.Helper()
	var k [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad key %q", s)
	}
	copy(k[:], b)
	return k
}

var key1 = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// pattern is the vectors' plaintext rule: byte i = (7i+3) mod 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((7*i + 3) % 251)
	}
	return b
}

func readVec(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vecDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll opens b and reads the whole plaintext.
func readAll(b Backing, path string, key [16]byte, opts Options) ([]byte, error) {
	f, err := Open(b, path, key, opts)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]byte, f.Size())
	n, err := f.ReadAt(out, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(out)) {
		return nil, err
	}
	return out, nil
}

// detRand is the vectors' deterministic source: 16-byte block k is
// LE64(seed) || LE64(k).
type detRand struct {
	seed, k uint64
	buf     []byte
	used    int
}

func (d *detRand) Read(p []byte) (int, error) {
	for len(d.buf) < len(p) {
		var blk [16]byte
		binary.LittleEndian.PutUint64(blk[:8], d.seed)
		binary.LittleEndian.PutUint64(blk[8:], d.k)
		d.k++
		d.buf = append(d.buf, blk[:]...)
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	d.used += n
	return n, nil
}

func TestVectorsDecrypt(t *testing.T) {
	m := loadManifest(t)
	count := 0
	for _, v := range m.Vectors {
		if !strings.HasPrefix(v.Expected, "decrypts") || v.Case != "" {
			continue
		}
		t.Run(v.File, func(t *testing.T) {
			got, err := readAll(NewMemBacking(readVec(t, v.File)), v.BoundPath, hexKey(t, v.KeyHex), Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != v.PlaintextSize || !bytes.Equal(got, pattern(v.PlaintextSize)) {
				t.Fatalf("plaintext mismatch (len %d)", len(got))
			}
			if h := sha256.Sum256(got); hex.EncodeToString(h[:]) != v.PlaintextSHA256 {
				t.Fatal("sha256 mismatch")
			}
		})
		count++
	}
	if count < 18 {
		t.Fatalf("only %d positive vectors found", count)
	}
}

func TestVectorsWrongKey(t *testing.T) {
	m := loadManifest(t)
	n := 0
	for _, v := range m.Vectors {
		if v.Case != "wrong_key" {
			continue
		}
		n++
		_, err := readAll(NewMemBacking(readVec(t, v.File)), v.BoundPath, hexKey(t, v.KeyHex), Options{})
		if !errors.Is(err, ErrWrongKey) || !errors.Is(err, ErrTampered) {
			t.Errorf("%s: got %v, want ErrWrongKey", v.File, err)
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Node != 0 {
			t.Errorf("%s: want *Error on node 0, got %#v", v.File, err)
		}
	}
	if n != 2 {
		t.Fatalf("found %d wrong-key cases", n)
	}
}

func TestVectorsPathBinding(t *testing.T) {
	raw := readVec(t, "v2_k1_renamed_b.pf")
	_, err := readAll(NewMemBacking(raw), "pf/v2_k1_renamed_b.pf", key1, Options{})
	if !errors.Is(err, ErrPathMismatch) {
		t.Fatalf("renamed file: got %v, want ErrPathMismatch", err)
	}
	for _, o := range []struct {
		path string
		opts Options
	}{{"pf/v2_k1_bound_to_a.pf", Options{}}, {"whatever", Options{SkipPathCheck: true}}} {
		got, err := readAll(NewMemBacking(raw), o.path, key1, o.opts)
		if err != nil || !bytes.Equal(got, pattern(12345)) {
			t.Fatalf("open as %q: %v", o.path, err)
		}
	}
	raw = readVec(t, "v2_k1_pfrename_new.pf")
	if _, err := readAll(NewMemBacking(raw), "pf/v2_k1_pfrename_old.pf", key1, Options{}); !errors.Is(err, ErrPathMismatch) {
		t.Fatalf("pre-rename path: got %v", err)
	}
}

// writeLikePfCrypt writes plaintext the way pf_encrypt_file does: 4096-byte
// sequential writes, then close.
func writeLikePfCrypt(t testing.TB, f *File, plain []byte) {
	t.Helper()
	for off := 0; off < len(plain); off += 4096 {
		end := min(off+4096, len(plain))
		if _, err := f.WriteAt(plain[off:end], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
}

func seedOf(t *testing.T, randomness string) uint64 {
	t.Helper()
	i := strings.Index(randomness, "seed=")
	if i < 0 {
		t.Fatalf("no seed in %q", randomness)
	}
	var s uint64
	for _, c := range randomness[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		s = s*10 + uint64(c-'0')
	}
	return s
}

// TestVectorsDeterministic reproduces Gramine's "det" files byte for byte.
func TestVectorsDeterministic(t *testing.T) {
	m := loadManifest(t)
	n := 0
	for _, v := range m.Vectors {
		if !strings.Contains(v.File, "_det_") {
			continue
		}
		n++
		t.Run(v.File, func(t *testing.T) {
			rnd := &detRand{seed: seedOf(t, v.Randomness)}
			mb := NewMemBacking(nil)
			f, err := Create(mb, v.BoundPath, key1, Options{Rand: rnd, GramineFlushPolicy: true})
			if err != nil {
				t.Fatal(err)
			}
			writeLikePfCrypt(t, f, pattern(v.PlaintextSize))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mb.Bytes(), readVec(t, v.File)) {
				t.Fatalf("output differs from Gramine's (len %d vs %d)", len(mb.Bytes()), len(readVec(t, v.File)))
			}
			if rnd.used != v.RandomBytes {
				t.Fatalf("drew %d random bytes, Gramine drew %d", rnd.used, v.RandomBytes)
			}
		})
	}
	if n != 6 {
		t.Fatalf("found %d det vectors", n)
	}
}

func TestVectorsRenameReproduced(t *testing.T) {
	mb := NewMemBacking(nil)
	f, err := Create(mb, "pf/v2_k1_pfrename_old.pf", key1, Options{Rand: &detRand{seed: 5}, GramineFlushPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	writeLikePfCrypt(t, f, pattern(5000))
	if err := f.Rename("pf/v2_k1_pfrename_new.pf"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mb.Bytes(), readVec(t, "v2_k1_pfrename_new.pf")) {
		t.Fatal("renamed file differs from Gramine's")
	}
}

func TestVectorsRecoveryWrittenReproduced(t *testing.T) {
	mb, rb := NewMemBacking(nil), NewMemBacking(nil)
	f, err := Create(mb, "pf/v2_k1_recovery_written.pf", key1, Options{
		Rand: &detRand{seed: 11}, GramineFlushPolicy: true, EnableRecovery: true, RecoveryBacking: rb})
	if err != nil {
		t.Fatal(err)
	}
	writeLikePfCrypt(t, f, pattern(12345))
	// Gramine's pf_close keeps the journal (the LibOS deletes it), so compare
	// it before our Close truncates it.
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rb.Bytes(), readVec(t, "v2_k1_recovery_written.pf.gramine.recovery")) {
		t.Fatal("recovery journal differs from Gramine's")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mb.Bytes(), readVec(t, "v2_k1_recovery_written.pf")) {
		t.Fatal("main file differs from Gramine's")
	}
	if sz, _ := rb.Size(); sz != 0 {
		t.Fatalf("journal not truncated on close: %d", sz)
	}
}

// failingBacking fails every WriteAt after the first okWrites.
type failingBacking struct {
	*MemBacking
	okWrites int
}

var errInjected = errors.New("injected write failure")

func (b *failingBacking) WriteAt(p []byte, off int64) (int, error) {
	if b.okWrites == 0 {
		return 0, errInjected
	}
	b.okWrites--
	return b.MemBacking.WriteAt(p, off)
}

func TestVectorsCrashReproducedAndRecovered(t *testing.T) {
	for _, c := range []struct {
		file         string
		seed, fseed  uint64
		okWrites     int
		failOpenNoRc bool
	}{
		{"v2_k1_crash_before_meta.pf", 12, 112, 4, true},
		{"v2_k1_crash_mid.pf", 13, 113, 2, false},
	} {
		t.Run(c.file, func(t *testing.T) {
			bound := "pf/" + c.file
			// Reproduce: initial encrypt, reopen with a journal, write, crash.
			mb := NewMemBacking(nil)
			f, err := Create(mb, bound, key1, Options{Rand: &detRand{seed: c.seed}, GramineFlushPolicy: true})
			if err != nil {
				t.Fatal(err)
			}
			writeLikePfCrypt(t, f, pattern(12345))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			fb := &failingBacking{MemBacking: NewMemBacking(mb.Bytes()), okWrites: -1}
			rb := NewMemBacking(nil)
			f, err = Open(fb, bound, key1, Options{Rand: &detRand{seed: c.fseed}, GramineFlushPolicy: true,
				EnableRecovery: true, RecoveryBacking: rb})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xAA}, 5000), 5000); err != nil {
				t.Fatal(err)
			}
			fb.okWrites = c.okWrites
			if err := f.Flush(); !errors.Is(err, errInjected) {
				t.Fatalf("flush: got %v, want injected failure", err)
			}
			if !bytes.Equal(fb.Bytes(), readVec(t, c.file)) {
				t.Error("crashed main file differs from Gramine's")
			}
			if !bytes.Equal(rb.Bytes(), readVec(t, c.file+".gramine.recovery")) {
				t.Error("journal differs from Gramine's")
			}

			// Recover Gramine's own files.
			main, journal := readVec(t, c.file), readVec(t, c.file+".gramine.recovery")
			got, err := readAll(NewMemBacking(main), bound, key1, Options{EnableRecovery: true, RecoveryBacking: NewMemBacking(journal)})
			if err != nil || !bytes.Equal(got, pattern(12345)) {
				t.Fatalf("recovery: %v", err)
			}
			_, err = readAll(NewMemBacking(main), bound, key1, Options{EnableRecovery: true, RecoveryBacking: NewMemBacking(nil)})
			if !errors.Is(err, ErrRecoveryNeeded) {
				t.Fatalf("empty journal: got %v, want ErrRecoveryNeeded", err)
			}
			_, err = readAll(NewMemBacking(main), bound, key1, Options{})
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("no recovery: got %v, want ErrTampered", err)
			}
		})
	}
}

// TestVectorsTampered opens each of gramine-sgx-pf-tamper's variants.
func TestVectorsTampered(t *testing.T) {
	m := loadManifest(t)
	ts := m.Tamper
	if len(ts.Variants) != 72 {
		t.Fatalf("%d variants", len(ts.Variants))
	}
	for _, v := range ts.Variants {
		name := strings.TrimPrefix(filepath.Base(v.File), ts.Base+".")
		t.Run(name, func(t *testing.T) {
			got, err := readAll(NewMemBacking(readVec(t, v.File)), ts.BoundPath, hexKey(t, ts.KeyHex), Options{ReadOnly: true})
			if strings.HasPrefix(v.Expected, "decrypts") {
				if err != nil || !bytes.Equal(got, pattern(12345)) {
					t.Fatalf("undetectable variant should decrypt: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("tampered file decrypted")
			}
			want := expectedKind(name)
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	}
}

func expectedKind(variant string) error {
	switch {
	case strings.HasPrefix(variant, "meta_plain_id"):
		return ErrBadMagic
	case strings.HasPrefix(variant, "meta_plain_version"):
		return ErrBadVersion
	case strings.HasPrefix(variant, "meta_plain_"):
		return ErrWrongKey
	case strings.HasPrefix(variant, "meta_enc_filename"):
		return ErrPathMismatch
	case strings.HasPrefix(variant, "trunc_"), strings.HasPrefix(variant, "extend_"):
		return ErrTampered // ErrTruncated, or a MAC failure of a half-cut node
	}
	return ErrTampered
}
