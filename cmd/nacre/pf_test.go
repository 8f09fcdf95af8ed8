package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/pf"
)

// runPf runs "nacre pf ARGS" in-process on a fresh command tree.
func runPf(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c := newPfCmd()
	var stderr bytes.Buffer
	c.SetErr(&stderr)
	c.SetOut(&stderr)
	c.SetArgs(args)
	c.SilenceUsage = true
	c.SilenceErrors = true
	err := c.Execute()
	return stderr.String(), err
}

func TestPfGenKey(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := runPf(t, "gen-key", "-w", "k"); err != nil {
		t.Fatal(err)
	}
	k1, _ := os.ReadFile("k")
	if len(k1) != 16 {
		t.Fatalf("key has %d bytes", len(k1))
	}
	if _, err := runPf(t, "gen-key", "-w", "k"); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("overwrite without -f: %v", err)
	}
	if _, err := runPf(t, "gen-key", "-w", "k", "-f"); err != nil {
		t.Fatal(err)
	}
	if k2, _ := os.ReadFile("k"); bytes.Equal(k1, k2) {
		t.Fatal("key not replaced")
	}
	os.WriteFile("short", []byte("abc"), 0o600)
	os.WriteFile("in", []byte("x"), 0o600)
	if _, err := runPf(t, "encrypt", "-w", "short", "-i", "in", "-o", "out"); err == nil || !strings.Contains(err.Error(), "16 raw bytes") {
		t.Fatalf("short key: %v", err)
	}
}

func TestPfRoundTripAndPathBinding(t *testing.T) {
	t.Chdir(t.TempDir())
	runPf(t, "gen-key", "-w", "k")
	plain := bytes.Repeat([]byte("nacre protected files "), 5000)
	os.WriteFile("plain.txt", plain, 0o600)
	if _, err := runPf(t, "encrypt", "-w", "k", "-i", "plain.txt", "-o", "./enc/../enc/secret.pf"); err != nil {
		t.Fatal(err)
	}
	if _, err := runPf(t, "decrypt", "-w", "k", "-i", "enc/secret.pf", "-o", "dec.txt", "-V"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile("dec.txt"); !bytes.Equal(got, plain) {
		t.Fatal("round trip mismatch")
	}
	// Moved on the host: -V fails with a clear error and writes nothing.
	os.Rename("enc/secret.pf", "enc/moved.pf")
	_, err := runPf(t, "decrypt", "-w", "k", "-i", "enc/moved.pf", "-o", "dec2.txt", "-V")
	var ee *exitError
	if !errors.Is(err, pf.ErrPathMismatch) || !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "enc/moved.pf") {
		t.Fatalf("moved file with -V: %v", err)
	}
	if _, err := os.Stat("dec2.txt"); err == nil {
		t.Fatal("output written for a failed file")
	}
	if _, err := runPf(t, "decrypt", "-w", "k", "-i", "enc/moved.pf", "-o", "dec2.txt"); err != nil {
		t.Fatalf("without -V: %v", err)
	}
	// Wrong key.
	runPf(t, "gen-key", "-w", "k2")
	if _, err := runPf(t, "decrypt", "-w", "k2", "-i", "enc/moved.pf", "-o", "dec3.txt"); !errors.Is(err, pf.ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestPfDirectories(t *testing.T) {
	t.Chdir(t.TempDir())
	runPf(t, "gen-key", "-w", "k")
	files := map[string][]byte{"a": []byte("A"), "sub/b": bytes.Repeat([]byte{7}, 10000), "sub/deep/c": nil}
	for name, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join("in", name)), 0o755)
		os.WriteFile(filepath.Join("in", name), data, 0o600)
	}
	if _, err := runPf(t, "encrypt", "-w", "k", "-i", "in", "-o", "enc"); err != nil {
		t.Fatal(err)
	}
	if _, err := runPf(t, "decrypt", "-w", "k", "-i", "enc", "-o", "out", "-V"); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join("out", name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestPfGramineVector decrypts a file written by gramine-sgx-pf-crypt.
func TestPfGramineVector(t *testing.T) {
	src, err := os.ReadFile("../../internal/pf/testdata/gramine/v2_k1_size12345.pf")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	os.WriteFile("k", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0o600)
	os.Mkdir("pf", 0o755)
	os.WriteFile("pf/v2_k1_size12345.pf", src, 0o644)
	if _, err := runPf(t, "decrypt", "-w", "k", "-i", "pf/v2_k1_size12345.pf", "-o", "plain", "-V"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile("plain")
	if len(got) != 12345 || got[1] != 10 || got[12344] != byte((7*12344+3)%251) {
		t.Fatal("wrong plaintext")
	}
}

func TestPfTamperVariantsRejected(t *testing.T) {
	t.Chdir(t.TempDir())
	runPf(t, "gen-key", "-w", "k")
	os.WriteFile("plain", bytes.Repeat([]byte("0123456789"), 2000), 0o600)
	if _, err := runPf(t, "encrypt", "-w", "k", "-i", "plain", "-o", "f.pf"); err != nil {
		t.Fatal(err)
	}
	out, err := runPf(t, "tamper", "-w", "k", "-i", "f.pf", "-o", "bad")
	if err != nil {
		t.Fatal(err)
	}
	variants, _ := filepath.Glob("bad/f.pf.*")
	if len(variants) < 40 || !strings.Contains(out, "tampered variants") {
		t.Fatalf("%d variants; %s", len(variants), out)
	}
	good, _ := os.ReadFile("f.pf")
	for _, v := range variants {
		data, _ := os.ReadFile(v)
		os.WriteFile("f.pf", data, 0o644) // at the bound path, as Gramine's test does
		if _, err := runPf(t, "decrypt", "-w", "k", "-i", "f.pf", "-o", "dec", "-V"); err == nil {
			t.Errorf("%s decrypted", v)
		}
		if _, err := os.Stat("dec"); err == nil {
			t.Fatalf("%s: output left behind", v)
		}
	}
	os.WriteFile("f.pf", good, 0o644)
	if _, err := runPf(t, "decrypt", "-w", "k", "-i", "f.pf", "-o", "dec", "-V"); err != nil {
		t.Fatal(err)
	}
}
