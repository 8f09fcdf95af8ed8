package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/attest"
	"github.com/nacre-tee/nacre/internal/attestfs"
	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// shieldQuotes emulates a shield's /dev/attestation/quote for a simulator:
// claims with the manifest identity over the caller's user report data.
func shieldQuotes(t *testing.T, s *tee.Sim, meas, signer [32]byte) func([64]byte) (*tee.Evidence, error) {
	return func(ud [64]byte) (*tee.Evidence, error) {
		ev, err := tee.Attest(context.Background(), s, tee.Claims{Measurement: meas, Signer: signer, UserData: ud, IssuedAt: time.Now()})
		if err != nil {
			return nil, err
		}
		q, err := attestfs.EncodeQuote(ev)
		if err != nil {
			return nil, err
		}
		return attestfs.ParseQuote(q)
	}
}

func testSim(t *testing.T, meas, signer [32]byte) *tee.Sim {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: meas, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDevAttestationCertificate(t *testing.T) {
	meas, signer := [32]byte{0xab, 1}, [32]byte{0x5e, 2}
	s := testSim(t, meas, signer)
	c, platform, err := devAttestationCertificate(shieldQuotes(t, s, meas, signer), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if platform != tee.PlatformSim {
		t.Fatalf("platform %q", platform)
	}
	v := &ratls.Verifier{Verifiers: map[string]ratls.EvidenceVerifier{tee.PlatformSim: &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{s.PublicKey()}}}}
	res, err := v.VerifyCertificate(context.Background(), c.DER)
	if err != nil {
		t.Fatal(err)
	}
	if res.MeasurementHex() != hex.EncodeToString(meas[:]) || res.SignerHex() != hex.EncodeToString(signer[:]) {
		t.Fatalf("certificate binds %s / %s", res.MeasurementHex(), res.SignerHex())
	}
	// The same through nacre verify's recognizer, and the certificate's key
	// is the returned key.
	vr, err := verify.VerifyEvidence(attest.WithSimKeys(context.Background(), s.PublicKey()), c.DER, &verify.Options{})
	if err != nil || !vr.Accepted {
		t.Fatalf("recognizer: %v", err)
	}
	cert, _ := x509.ParseCertificate(c.DER)
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&c.Key.PublicKey) || cert.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P384() {
		t.Fatal("certificate key is not the returned P-384 key")
	}
	for _, e := range cert.Extensions {
		if e.Id.Equal(ratls.OIDLegacyQuote) {
			t.Fatal("legacy extension present: its report data cannot be Gramine's inside a shield")
		}
	}
	// RA_TLS_CERT_TIMESTAMP_* values are honoured.
	nb, na := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	c2, _, err := devAttestationCertificate(shieldQuotes(t, s, meas, signer), nb, na)
	if err != nil {
		t.Fatal(err)
	}
	if cert, _ := x509.ParseCertificate(c2.DER); !cert.NotBefore.Equal(nb) || !cert.NotAfter.Equal(na) {
		t.Fatalf("validity %v..%v", cert.NotBefore, cert.NotAfter)
	}
	// A quote over other user data (a concurrent writer) is refused.
	other := func([64]byte) (*tee.Evidence, error) { return shieldQuotes(t, s, meas, signer)([64]byte{9}) }
	if _, _, err := devAttestationCertificate(other, time.Time{}, time.Time{}); err == nil || !strings.Contains(err.Error(), "overwritten") {
		t.Fatalf("foreign user data: %v", err)
	}
	failing := func([64]byte) (*tee.Evidence, error) { return nil, errors.New("EACCES") }
	if _, _, err := devAttestationCertificate(failing, time.Time{}, time.Time{}); err == nil {
		t.Fatal("quote failure ignored")
	}
}

// TestDevAttestationQuoteFiles drives the file protocol on a plain
// directory (the FUSE semantics are tested in internal/attestfs and
// end to end in tests/e2e TestRATLSInShield).
func TestDevAttestationQuoteFiles(t *testing.T) {
	dir := t.TempDir()
	meas := [32]byte{7}
	s := testSim(t, meas, [32]byte{})
	ev, err := shieldQuotes(t, s, meas, [32]byte{})([64]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := attestfs.EncodeQuote(ev)
	os.WriteFile(filepath.Join(dir, "user_report_data"), nil, 0o666)
	os.WriteFile(filepath.Join(dir, "quote"), q, 0o444)
	got, err := devAttestationQuote(dir, [64]byte{1, 2})
	if err != nil || got.Platform != tee.PlatformSim || string(got.Claims) != string(ev.Claims) {
		t.Fatalf("quote: %+v %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "user_report_data")); len(b) != 64 || b[0] != 1 || b[1] != 2 {
		t.Fatalf("user_report_data %x", b)
	}
	// A raw quote binds no identity: refused with an explanation.
	os.WriteFile(filepath.Join(dir, "quote"), ev.Blob, 0o444)
	if _, err := devAttestationQuote(dir, [64]byte{}); err == nil || !strings.Contains(err.Error(), "not a nacre quote") {
		t.Fatalf("raw quote: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "quote"), q[:len(q)-1], 0o444)
	if _, err := devAttestationQuote(dir, [64]byte{}); !errors.Is(err, attestfs.ErrQuote) {
		t.Fatalf("truncated quote: %v", err)
	}
	if _, err := devAttestationQuote(filepath.Join(dir, "missing"), [64]byte{}); err == nil {
		t.Fatal("missing directory accepted")
	}
}

// TestRATLSCommandShieldSelection: with a quote in --attestation-dir and no
// --platform, the command takes its evidence there; --platform wins.
func TestRATLSCommandShieldSelection(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	adir := filepath.Join(dir, "attestation")
	os.Mkdir(adir, 0o755)
	s := testSim(t, [32]byte{1}, [32]byte{})
	ev, _ := shieldQuotes(t, s, [32]byte{1}, [32]byte{})([64]byte{0xee}) // never this key's hash
	q, _ := attestfs.EncodeQuote(ev)
	os.WriteFile(filepath.Join(adir, "user_report_data"), nil, 0o666)
	os.WriteFile(filepath.Join(adir, "quote"), q, 0o444)
	crt, key := filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")

	cmd := newRATLSCmd()
	cmd.SetArgs([]string{"--attestation-dir", adir, crt, key})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "overwritten") {
		t.Fatalf("shield evidence not used: %v", err)
	}
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--attestation-dir", adir, "--measurement", strings.Repeat("ab", 32), crt, key})
	var ee *exitError
	if err := cmd.Execute(); !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("--measurement inside a shield: %v", err)
	}
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--attestation-dir", adir, "--platform", "sim", crt, key})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("explicit --platform sim: %v", err)
	}
}

// TestTaggedEvidenceMatchesRATLS: the extension written inside a shield
// (ratls.SignEvidence with the quote's evidence) is byte for byte what
// ratls.CreateCertificate writes for the same evidence, claims and key.
func TestTaggedEvidenceMatchesRATLS(t *testing.T) {
	s := testSim(t, [32]byte{3}, [32]byte{4})
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{3}, Signer: [32]byte{4}, NoLegacy: true})
	if err != nil {
		t.Fatal(err)
	}
	tagged := func(der []byte) []byte {
		t.Helper()
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range cert.Extensions {
			if e.Id.Equal(ratls.OIDTaggedEvidence) {
				return e.Value
			}
		}
		t.Fatal("no tagged-evidence extension")
		return nil
	}
	want := tagged(c.DER)
	te, err := ratls.ParseTaggedEvidence(want)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ratls.SignEvidence(c.Key, &tee.Evidence{Platform: te.Platform, Blob: te.Blob, Claims: te.NacreClaims}, nil, time.Time{}, time.Time{}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got := tagged(der); hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Fatalf("tagged evidence differs from ratls.CreateCertificate's:\n got %x\nwant %x", got, want)
	}
	// With an SNP certificate table the aux element is appended.
	der, err = ratls.SignEvidence(c.Key, &tee.Evidence{Platform: tee.PlatformSNP, Blob: []byte{1}, Aux: []byte{2}, Claims: te.NacreClaims}, nil, time.Time{}, time.Time{}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if te, err := ratls.ParseTaggedEvidence(tagged(der)); err != nil || te.Platform != tee.PlatformSNP || len(te.Aux) != 1 || te.Aux[0] != 2 {
		t.Fatalf("SNP with aux: %+v %v", te, err)
	}
	if err := shieldPlatform("sgx"); err == nil {
		t.Fatal("sgx evidence from a shield accepted")
	}
}
