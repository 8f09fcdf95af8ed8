package measure

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the known-answer files in testdata")

func katKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := LoadKey("testdata/kat-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func katOptions() SignOptions {
	ci := sha256.Sum256([]byte("chunk index"))
	return SignOptions{Date: "2026-01-02", ChunkIndexSHA256: &ci}
}

func TestKnownAnswer(t *testing.T) {
	m, err := manifest.Load("testdata/kat.manifest")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sign(m, katKey(t), katOptions())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open("kat", out)
	if err != nil {
		t.Fatal(err)
	}
	summary := fmt.Sprintf("measurement %x\nsigner %x\n", s.Measurement, s.Signer)
	if *update {
		os.WriteFile("testdata/kat.manifest.signed", out, 0o644)
		os.WriteFile("testdata/kat.txt", []byte(summary), 0o644)
	}
	want, err := os.ReadFile("testdata/kat.manifest.signed")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("signed manifest differs from testdata/kat.manifest.signed:\n%s", out)
	}
	wantSummary, _ := os.ReadFile("testdata/kat.txt")
	if summary != string(wantSummary) {
		t.Errorf("got\n%swant\n%s", summary, wantSummary)
	}
	// The measurement is the documented hash of the body, independently
	// recomputed here.
	body := out[:bytes.LastIndex(out[:len(out)-1], []byte("\n"))+1]
	if s.Measurement != sha256.Sum256(append([]byte("nacre manifest measurement v1\x00"), body...)) {
		t.Errorf("measurement is not SHA-256(prefix || body)")
	}
	k := katKey(t)
	le := k.N.FillBytes(make([]byte, 384))
	for i, j := 0, 383; i < j; i, j = i+1, j-1 {
		le[i], le[j] = le[j], le[i]
	}
	if s.Signer != sha256.Sum256(le) {
		t.Errorf("signer is not SHA-256 of the little-endian modulus")
	}
	if s.ISVProdID != 7 || s.ISVSVN != 3 || !s.Debug || s.Date != "2026-01-02" || *s.ChunkIndexSHA256 != *katOptions().ChunkIndexSHA256 {
		t.Errorf("signed fields: %+v", s)
	}
	if !IsSigned(out) || IsSigned(body) {
		t.Errorf("IsSigned wrong")
	}
}

func smallSigned(t testing.TB) []byte {
	m, err := manifest.Parse("small", []byte("libos.entrypoint = \"/a\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sign(m, katKey(t), SignOptions{Date: "0000-00-00"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTamperEveryByte(t *testing.T) {
	out := smallSigned(t)
	if _, err := Open("small", out); err != nil {
		t.Fatal(err)
	}
	bodyLen := bytes.Index(out, []byte("#nacre-signature"))
	for i := range out {
		for _, flip := range []byte{0x01, 0x80} {
			mod := bytes.Clone(out)
			mod[i] ^= flip
			_, err := Open("small", mod)
			if err == nil {
				t.Fatalf("flipping byte %d (%q) with %#x was not detected", i, out[i], flip)
			}
			if i < bodyLen && out[i] != '\n' && !errors.Is(err, ErrMeasurementMismatch) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrNotSigned) {
				t.Fatalf("byte %d: unexpected error %v", i, err)
			}
			if i < bodyLen-1 && errors.Is(err, ErrMeasurementMismatch) && !strings.Contains(err.Error(), "was modified after signing") {
				t.Fatalf("byte %d: message %q", i, err)
			}
		}
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	out := smallSigned(t)
	for n := range len(out) {
		if _, err := Open("small", out[:n]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
	for _, extra := range []string{"\n", "x", "# comment\n", "sgx.debug = true\n"} {
		if _, err := Open("small", append(bytes.Clone(out), extra...)); err == nil {
			t.Errorf("appending %q accepted", extra)
		}
		if _, err := Open("small", append([]byte(extra), out...)); err == nil && extra != "" {
			t.Errorf("prepending %q accepted", extra)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("plain", []byte("libos.entrypoint = \"/a\"\n")); !errors.Is(err, ErrNotSigned) {
		t.Errorf("unsigned: %v", err)
	}
	out := smallSigned(t)
	// A valid trailer moved onto another body: signature fine, measurement not.
	i := bytes.Index(out, []byte("#nacre"))
	moved := append([]byte("libos.entrypoint = \"/b\"\n"), out[i:]...)
	if _, err := Open("moved", moved); !errors.Is(err, ErrMeasurementMismatch) || !strings.Contains(err.Error(), "signed manifest moved was modified after signing") || !strings.Contains(err.Error(), "re-run nacre sign") {
		t.Errorf("moved trailer: %v", err)
	}
	// A signature from another key over a forged sigstruct does not verify.
	other, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := manifest.Parse("x", []byte("libos.entrypoint = \"/a\"\n"))
	forged, _ := Sign(m, other, SignOptions{Date: "0000-00-00"})
	s1, _ := Open("a", out)
	s2, _ := Open("b", forged)
	if s1.Measurement != s2.Measurement || s1.Signer == s2.Signer {
		t.Errorf("measurement must not depend on the key, signer must")
	}
}

func TestSignErrors(t *testing.T) {
	m, _ := manifest.Parse("x", []byte("libos.entrypoint = \"/a\"\nsgx.trusted_files = [\"file:/bin/sh\"]\n"))
	if _, err := Sign(m, katKey(t), SignOptions{}); err == nil || !strings.Contains(err.Error(), "no sha256") {
		t.Errorf("unhashed trusted file: %v", err)
	}
	m, _ = manifest.Parse("x", []byte("libos.entrypoint = \"/a\"\n"))
	for _, d := range []string{"2026-1-02", "20260102", "abcd-ef-gh", "2026-01-02x"} {
		if _, err := Sign(m, katKey(t), SignOptions{Date: d}); err == nil {
			t.Errorf("date %q accepted", d)
		}
	}
	out, err := Sign(m, katKey(t), SignOptions{Now: func() time.Time { return time.Date(2031, 5, 6, 23, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := Open("x", out); s.Date != "2031-05-06" {
		t.Errorf("default date %q", s.Date)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := Sign(m, weak, SignOptions{}); !errors.Is(err, ErrBadKey) {
		t.Errorf("2048-bit key: %v", err)
	}
}

func TestKeys(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 3072 || k.E != 3 {
		t.Fatalf("generated %d bits e=%d", k.N.BitLen(), k.E)
	}
	back, err := ParseKey(MarshalKey(k))
	if err != nil || !back.Equal(k) {
		t.Fatalf("PKCS#1 round trip: %v", err)
	}
	if !bytes.HasPrefix(MarshalKey(k), []byte("-----BEGIN RSA PRIVATE KEY-----")) {
		t.Errorf("not PKCS#1 PEM")
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if back, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil || !back.Equal(k) {
		t.Errorf("PKCS#8: %v", err)
	}
	std, _ := rsa.GenerateKey(rand.Reader, 3072)
	if _, err := ParseKey(MarshalKey(std)); !errors.Is(err, ErrBadKey) {
		t.Errorf("e=65537 key accepted: %v", err)
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func FuzzOpen(f *testing.F) {
	out := smallSigned(f)
	f.Add(out)
	kat, _ := os.ReadFile("testdata/kat.manifest.signed")
	f.Add(kat)
	f.Add([]byte("#nacre-signature v1 AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Open("fuzz", data)
		if err != nil {
			return
		}
		// Anything accepted is a faithful signed manifest of its body.
		if s.Measurement != Measure(s.Body) || !bytes.HasPrefix(data, s.Body) {
			t.Fatalf("accepted inconsistent file")
		}
		_ = hex.EncodeToString(s.Signer[:])
	})
}

func TestSignatureTextInBody(t *testing.T) {
	m, err := manifest.Parse("x", []byte("libos.entrypoint = \"/a\"\nloader.argv = [\"#nacre-signature v1 x\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sign(m, katKey(t), SignOptions{Date: "0000-00-00"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open("x", out); err != nil {
		t.Errorf("signature text inside a value: %v", err)
	}
}
