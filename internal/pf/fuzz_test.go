package pf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds every Gramine vector (and tampered variant) as a seed.
func fuzzSeeds(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join(vecDir, "*.pf"))
	more, _ := filepath.Glob(filepath.Join(vecDir, "tamper", "*"))
	for _, n := range append(names, more...) {
		if b, err := os.ReadFile(n); err == nil && len(b) <= 64<<10 {
			f.Add(b)
		}
	}
}

// FuzzOpen opens untrusted bytes with the vectors' key; it must never panic,
// and any failure must be a typed *Error.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Open(NewMemBacking(data), "", key1, Options{ReadOnly: true, SkipPathCheck: true})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if pf.Size() < 0 {
			t.Fatal("negative size")
		}
		pf.Close()
	})
}

// FuzzRead opens and reads the whole file: reads either succeed with
// exactly Size() bytes or fail with an integrity error.
func FuzzRead(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Open(NewMemBacking(data), "", key1, Options{ReadOnly: true, SkipPathCheck: true})
		if err != nil {
			return
		}
		defer pf.Close()
		buf := make([]byte, min(pf.Size(), 1<<20))
		n, err := pf.ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			if !IsIntegrity(err) {
				t.Fatalf("read: non-integrity error %v", err)
			}
			return
		}
		if n != len(buf) {
			t.Fatalf("short read %d of %d without error", n, len(buf))
		}
		// Reading again gives the same bytes (cache consistency).
		again := make([]byte, len(buf))
		pf.ReadAt(again, 0)
		if !bytes.Equal(buf, again) {
			t.Fatal("second read differs")
		}
	})
}

// FuzzRecovery replays an untrusted recovery journal into a crashed file
// (Gramine's crash vector). It must never panic or write far beyond the
// file; the result either opens to a consistent file or fails typed.
func FuzzRecovery(f *testing.F) {
	main, err := os.ReadFile(filepath.Join(vecDir, "v2_k1_crash_mid.pf"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []string{"v2_k1_crash_mid.pf.gramine.recovery", "v2_k1_crash_before_meta.pf.gramine.recovery", "v2_k1_recovery_written.pf.gramine.recovery"} {
		if b, err := os.ReadFile(filepath.Join(vecDir, n)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, journal []byte) {
		mb := NewMemBacking(main)
		pf, err := Open(mb, "pf/v2_k1_crash_mid.pf", key1, Options{EnableRecovery: true, RecoveryBacking: NewMemBacking(journal)})
		if sz, _ := mb.Size(); sz > int64(len(main))+int64(len(journal))*2+4*NodeSize {
			t.Fatalf("replay grew the file to %d bytes", sz)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		buf := make([]byte, pf.Size())
		pf.ReadAt(buf, 0)
		pf.Close()
	})
}
