package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// Real evidence lives in internal/verify/testdata (see its README for the
// sources, licenses and the pinned clocks used below).
const samples = "../verify/testdata/"

var quiet = slog.New(slog.DiscardHandler)

func noEnv(string) string { return "" }

func pinned(t *testing.T, s string) func() time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return func() time.Time { return at }
}

func load(t *testing.T, paths ...string) (*verify.Collateral, []byte) {
	t.Helper()
	var full []string
	for _, p := range paths[1:] {
		full = append(full, samples+p)
	}
	col, err := verify.LoadCollateral(full...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(samples + paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return col, raw
}

func TestAdapterRealTDX(t *testing.T) {
	col, raw := load(t, "tdx/dcap-qvl/tdx_quote", "tdx/dcap-qvl/tdx_quote_collateral.json")
	v, err := NewEvidenceVerifier(Options{Collateral: col, Now: pinned(t, "2025-07-01T00:00:00Z"), Getenv: noEnv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformTDX, Blob: raw})
	if err != nil {
		t.Fatal(err)
	}
	if got.Platform != "tdx" || got.Status != "UpToDate" || got.Insecure || got.Debug {
		t.Errorf("verified %+v", got)
	}
	if !strings.HasPrefix(hex.EncodeToString(got.ReportData[:]), "9a9d48e7f6799642d3d1b34e1e5e1742") {
		t.Errorf("report data %x", got.ReportData)
	}
	// TDX attests the VM; the application identity comes from nacre's claims.
	if got.Measurement != nil || got.Signer != nil || !got.Timestamp.IsZero() {
		t.Errorf("TDX must not report an application identity: %x %x %v", got.Measurement, got.Signer, got.Timestamp)
	}
	if got.Details["mrtd"] != "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7" || got.Details["tcb_status"] != "UpToDate" {
		t.Errorf("details %v", got.Details)
	}

	for name, c := range map[string]struct {
		o     Options
		ev    *tee.Evidence
		check string
	}{
		// Past the PCK CRL's nextUpdate (README window ends 2025-07-19T10:00:35Z).
		"clock past the CRL": {Options{Collateral: col, Now: pinned(t, "2025-07-20T00:00:00Z")}, &tee.Evidence{Platform: "tdx", Blob: raw}, "crl.pck"},
		"no collateral":      {Options{Now: pinned(t, "2025-07-01T00:00:00Z")}, &tee.Evidence{Platform: "tdx", Blob: raw}, "crl.root"},
		"labelled sgx":       {Options{Collateral: col, Now: pinned(t, "2025-07-01T00:00:00Z")}, &tee.Evidence{Platform: "sgx", Blob: raw}, "evidence.platform"},
		"labelled snp":       {Options{Collateral: col}, &tee.Evidence{Platform: "snp", Blob: raw}, "snp.parse"},
		"sim platform":       {Options{}, &tee.Evidence{Platform: "sim", Blob: raw}, "evidence.platform"},
		"MRTD pinned elsewhere": {Options{Collateral: col, Now: pinned(t, "2025-07-01T00:00:00Z"),
			Policy: &policy.Policy{MRTD: []policy.Hex{make([]byte, 48)}}}, &tee.Evidence{Platform: "tdx", Blob: raw}, "policy.mrtd"},
	} {
		c.o.Getenv, c.o.Logger = noEnv, quiet
		v, err := NewEvidenceVerifier(c.o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyEvidence(context.Background(), c.ev)
		if got := verify.FailedCheck(err); !strings.HasPrefix(got, c.check) {
			t.Errorf("%s: failed check %q (%v), want %q", name, got, err, c.check)
		}
	}
}

func TestAdapterRealSGX(t *testing.T) {
	col, raw := load(t, "sgx/dcap-qvl/sgx_quote", "sgx/dcap-qvl/sgx_quote_collateral.json")
	ev := &tee.Evidence{Platform: tee.PlatformSGX, Blob: raw}
	o := Options{Collateral: col, Now: pinned(t, "2025-07-01T00:00:00Z"), Logger: quiet}
	env := map[string]string{}
	o.Getenv = func(k string) string { return env[k] }

	// Strict by default: ConfigurationAndSWHardeningNeeded is refused.
	v, err := NewEvidenceVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyEvidence(context.Background(), ev); verify.FailedCheck(err) != policy.CheckTCBStatus || !errors.Is(err, policy.ErrPolicy) {
		t.Fatalf("strict policy: %v", err)
	}
	// Gramine's variables allow it and pin MRENCLAVE.
	env[policy.EnvAllowHWConfigNeeded], env[policy.EnvAllowSWHardeningNeeded] = "1", "1"
	env[policy.EnvMREnclave] = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
	env[policy.EnvMRSigner], env[policy.EnvISVProdID], env[policy.EnvISVSVN] = "any", "0", "0"
	if v, err = NewEvidenceVerifier(o); err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyEvidence(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// Gramine clients: the enclave identity is the application identity.
	if hex.EncodeToString(got.Measurement) != env[policy.EnvMREnclave] ||
		hex.EncodeToString(got.Signer) != "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6" ||
		got.Status != "ConfigurationAndSWHardeningNeeded" || got.Details["advisories"] != "INTEL-SA-00289,INTEL-SA-00615" {
		t.Fatalf("verified %+v", got)
	}
	if string(got.ReportData[:13]) != "Hello, world!" {
		t.Errorf("report data %q", got.ReportData[:16])
	}
	// Another MRENCLAVE in the environment refuses it.
	env[policy.EnvMREnclave] = strings.Repeat("00", 32)
	if v, err = NewEvidenceVerifier(o); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyEvidence(context.Background(), ev); verify.FailedCheck(err) != "policy.mrenclave" {
		t.Fatalf("wrong MRENCLAVE: %v", err)
	}
	// Only some of the four identity variables: an error, not silence.
	delete(env, policy.EnvISVSVN)
	if _, err := NewEvidenceVerifier(o); !errors.Is(err, policy.ErrIncompleteEnv) {
		t.Fatalf("incomplete environment: %v", err)
	}
}

func TestAdapterRealSNP(t *testing.T) {
	col, raw := load(t, "snp/go-sev-guest/attestation.bin", "snp/go-sev-guest/vcek.testcer", "snp/go-sev-guest/milan.testcer")
	o := Options{Collateral: col, Now: pinned(t, "2022-09-24T01:00:00Z"), Getenv: noEnv, Logger: quiet}
	v, err := NewEvidenceVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSNP, Blob: raw})
	if err != nil {
		t.Fatal(err)
	}
	// The sample's guest policy allows debugging: reported, left to the RA-TLS policy.
	if got.Platform != "snp" || got.Status != "OK" || !got.Debug || got.Measurement != nil || got.Details["product"] != "Milan" {
		t.Fatalf("verified %+v", got)
	}
	if hex.EncodeToString(got.ReportData[:5]) != "0102030405" {
		t.Errorf("report data %x", got.ReportData)
	}
	// The VCEK in the certificate table that travels with the evidence
	// (configfs-tsm auxblob), no collateral: ASK and ARK are embedded.
	vcek, err := os.ReadFile(samples + "snp/go-sev-guest/vcek.testcer")
	if err != nil {
		t.Fatal(err)
	}
	guid, _ := hex.DecodeString("63da758de6644564adc5f4b93be8accd")
	aux := append(guid, 48, 0, 0, 0, byte(len(vcek)), byte(len(vcek)>>8), 0, 0)
	aux = append(append(aux, make([]byte, 24)...), vcek...)
	bare, _ := NewEvidenceVerifier(Options{Now: o.Now, Getenv: noEnv, Logger: quiet})
	if _, err := bare.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSNP, Blob: raw, Aux: aux}); err != nil {
		t.Fatalf("certificate table as auxblob: %v", err)
	}
	if _, err := bare.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSNP, Blob: raw}); verify.FailedCheck(err) != "snp.chain" {
		t.Fatalf("no VCEK anywhere: %v", err)
	}
	// Before the VCEK's notBefore.
	o.Now = pinned(t, "2022-09-23T00:00:00Z")
	v, _ = NewEvidenceVerifier(o)
	if _, err := v.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSNP, Blob: raw}); verify.FailedCheck(err) != "snp.chain" {
		t.Fatalf("early clock: %v", err)
	}
	// One flipped bit of the report (in MEASUREMENT) breaks the signature.
	bad := append([]byte(nil), raw...)
	bad[0x90] ^= 1
	v, _ = NewEvidenceVerifier(Options{Collateral: col, Now: pinned(t, "2022-09-24T01:00:00Z"), Getenv: noEnv, Logger: quiet})
	if _, err := v.VerifyEvidence(context.Background(), &tee.Evidence{Platform: tee.PlatformSNP, Blob: bad}); verify.FailedCheck(err) != "snp.signature" {
		t.Fatalf("flipped bit: %v", err)
	}
}

func newSim(t testing.TB, meas byte) *tee.Sim {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: [32]byte{meas}, Signer: [32]byte{0x5e}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimRecognizer(t *testing.T) {
	s := newSim(t, 0xaa)
	ev, err := s.Evidence(context.Background(), [64]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	opts := &verify.Options{Logger: quiet}
	if _, err := verify.VerifyEvidence(context.Background(), ev.Blob, opts); verify.FailedCheck(err) != "sim.key" || !errors.Is(err, tee.ErrUntrustedSimKey) {
		t.Fatalf("untrusted: %v", err)
	}
	other := newSim(t, 0)
	ctx := WithSimKeys(context.Background(), other.PublicKey())
	if _, err := verify.VerifyEvidence(ctx, ev.Blob, opts); verify.FailedCheck(err) != "sim.key" {
		t.Fatalf("other key trusted: %v", err)
	}
	ctx = WithSimKeys(ctx, s.PublicKey())
	res, err := verify.VerifyEvidence(ctx, ev.Blob, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := res.Measurement(verify.MeasManifest)
	if res.Platform != PlatformSim || Status(res) != tee.SimStatus || m[0] != 0xaa || res.ReportData[2] != 3 || res.TCBStatus != "" {
		t.Fatalf("result %+v", res)
	}
	// The default policy accepts it (no platform restriction); a manifest rule applies.
	if err := (&policy.Policy{ManifestMeasurement: []policy.Hex{make([]byte, 32)}}).Evaluate(res); verify.FailedCheck(err) != "policy.manifest_measurement" {
		t.Fatalf("manifest rule: %v", err)
	}
	// Every single-bit flip is refused.
	for i := range ev.Blob {
		bad := append([]byte(nil), ev.Blob...)
		bad[i] ^= 0x10
		if _, err := verify.VerifyEvidence(ctx, bad, opts); err == nil {
			t.Fatalf("bit flip in byte %d accepted", i)
		}
	}
}

// resign replaces the certificate's tagged-evidence extension with f(value)
// and signs it again with its own key: a forger who controls the key.
func resign(t *testing.T, c *ratls.Certificate, f func([]byte) []byte) []byte {
	t.Helper()
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *cert
	tmpl.ExtraExtensions = nil
	for _, e := range cert.Extensions {
		if e.Id.Equal(ratls.OIDTaggedEvidence) && f != nil {
			e.Value = f(append([]byte(nil), e.Value...))
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, e)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &c.Key.PublicKey, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertificateRecognizer(t *testing.T) {
	s := newSim(t, 0xaa)
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	opts := &verify.Options{Logger: quiet}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
	for name, raw := range map[string][]byte{"DER": c.DER, "PEM": pemCert} {
		res, err := verify.VerifyEvidence(ctx, raw, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, _ := res.Measurement(verify.MeasManifest)
		sg, _ := res.Measurement(verify.MeasManifestSigner)
		if res.Platform != PlatformSim || m[0] != 0xaa || sg[0] != 0x5e || !res.Accepted {
			t.Fatalf("%s: %+v", name, res)
		}
		var names []string
		for _, ch := range res.Checks {
			names = append(names, ch.Name)
		}
		want := "ratls.parse ratls.extract-evidence ratls.public-key ratls.self-signature ratls.validity ratls.report-data-binding sim.parse sim.key sim.signature ratls.report-data-binding"
		if strings.Join(names, " ") != want {
			t.Fatalf("%s: checks %v", name, names)
		}
	}
	// Untrusted simulator: the embedded evidence's check is named.
	if _, err := verify.VerifyEvidence(context.Background(), c.DER, opts); verify.FailedCheck(err) != "sim.key" {
		t.Fatalf("untrusted: %v", err)
	}
	// A certificate validity window excludes the verification time.
	early := &verify.Options{Logger: quiet, Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	if _, err := verify.VerifyEvidence(ctx, c.DER, early); verify.FailedCheck(err) != "ratls.validity" {
		t.Fatalf("validity: %v", err)
	}
	// Any flipped bit of the signed part breaks the certificate.
	cert, _ := x509.ParseCertificate(c.DER)
	tbs := len(c.DER) - len(cert.Signature) - 20
	for _, i := range []int{tbs / 2, tbs - 10, tbs - 100} {
		bad := append([]byte(nil), c.DER...)
		bad[i] ^= 1
		if _, err := verify.VerifyEvidence(ctx, bad, opts); err == nil {
			t.Fatalf("bit flip at %d accepted", i)
		}
	}
	// Re-signed by the certificate's own key with a flipped bit in the
	// simulated report's signature: the evidence check catches it.
	te, err := ratls.ParseTaggedEvidence(taggedValue(t, c.DER))
	if err != nil {
		t.Fatal(err)
	}
	sig := resign(t, c, func(v []byte) []byte {
		v[bytes.Index(v, te.Blob)+len(te.Blob)-1] ^= 1 // last byte of the simulator's signature
		return v
	})
	if _, err := verify.VerifyEvidence(ctx, sig, opts); verify.FailedCheck(err) != "sim.signature" {
		t.Fatalf("tampered evidence: %v", err)
	}
	// Evidence of another key's certificate: the binding check catches it.
	c2, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}})
	if err != nil {
		t.Fatal(err)
	}
	swapped := resign(t, c, func([]byte) []byte { return taggedValue(t, c2.DER) })
	if _, err := verify.VerifyEvidence(ctx, swapped, opts); verify.FailedCheck(err) != "ratls.report-data-binding" {
		t.Fatalf("swapped evidence: %v", err)
	}
	// An ordinary certificate is not RA-TLS evidence.
	plain := resign(t, c, nil)
	if _, err := verify.VerifyEvidence(ctx, plain, opts); !errors.Is(err, verify.ErrUnrecognized) {
		t.Fatalf("plain certificate: %v", err)
	}
}

func taggedValue(t *testing.T, der []byte) []byte {
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
	t.Fatal("no tagged evidence")
	return nil
}

func TestNewVerifierEnvironment(t *testing.T) {
	s := newSim(t, 0xaa)
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	o := Options{Getenv: func(k string) string { return env[k] }, Logger: quiet}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCertificate(context.Background(), c.DER); !strings.Contains(err.Error(), "no verifier configured for sim") {
		t.Fatalf("sim without trust: %v", err)
	}
	o.TrustedSimKeys = []*ecdsa.PublicKey{s.PublicKey()}
	if v, err = NewVerifier(o); err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyCertificate(context.Background(), c.DER)
	if err != nil || res.Status != tee.SimStatus || res.Measurement[0] != 0xaa {
		t.Fatalf("trusted sim: %+v %v", res, err)
	}
	// A debug TEE is refused unless RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE=1.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dbg, _ := tee.NewSim(tee.SimOptions{Key: k, Debug: true, Logger: quiet})
	cd, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: dbg})
	if err != nil {
		t.Fatal(err)
	}
	o.TrustedSimKeys = []*ecdsa.PublicKey{dbg.PublicKey()}
	v, _ = NewVerifier(o)
	var ce *ratls.CheckError
	if _, err := v.VerifyCertificate(context.Background(), cd.DER); !errors.As(err, &ce) || ce.Check != ratls.CheckDebug {
		t.Fatalf("debug: %v", err)
	}
	env[policy.EnvAllowDebug] = "1"
	v, _ = NewVerifier(o)
	if _, err := v.VerifyCertificate(context.Background(), cd.DER); err != nil {
		t.Fatalf("debug allowed: %v", err)
	}
	env[policy.EnvMREnclave] = "zz"
	if _, err := NewVerifier(o); err == nil {
		t.Fatal("malformed RA_TLS_MRENCLAVE accepted")
	}
}

func TestMain(m *testing.M) {
	slog.SetDefault(quiet)
	os.Exit(m.Run())
}

func TestCertificatePEMForms(t *testing.T) {
	s := newSim(t, 0xaa)
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	opts := &verify.Options{Logger: quiet}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
	keyDER, _ := x509.MarshalECPrivateKey(c.Key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	// Key saved in the same file, before or after: still the certificate.
	for _, raw := range [][]byte{append(bytes.Clone(certPEM), keyPEM...), append(bytes.Clone(keyPEM), certPEM...)} {
		if _, err := verify.VerifyEvidence(ctx, raw, opts); err != nil {
			t.Fatal(err)
		}
	}
	// Two certificates are a chain, which RA-TLS never is.
	if _, err := verify.VerifyEvidence(ctx, append(bytes.Clone(certPEM), certPEM...), opts); verify.FailedCheck(err) != "ratls.parse" {
		t.Fatalf("chain: %v", err)
	}
	// Not an RA-TLS certificate at all (no evidence extension): unrecognized.
	for _, raw := range [][]byte{keyPEM, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		if _, err := verify.VerifyEvidence(ctx, raw, opts); !errors.Is(err, verify.ErrUnrecognized) {
			t.Fatalf("%q: %v", raw[:20], err)
		}
	}
}

// gramineCert builds a certificate the way Gramine does (no nacre claims):
// legacy-only or tagged-only, with the simulator standing in for the TEE.
func gramineCert(t *testing.T, s *tee.Sim, tagged bool) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(spki)
	var ext pkix.Extension
	if tagged {
		claims := append([]byte{0xa1, 0x6b}, "pubkey-hash"...)
		claims = append(append(claims, 0x58, 0x24, 0x82, 0x01, 0x58, 0x20), h[:]...)
		var rd [64]byte
		ch := sha256.Sum256(claims)
		copy(rd[:], ch[:])
		ev, err := s.Evidence(context.Background(), rd)
		if err != nil {
			t.Fatal(err)
		}
		v := []byte{0xda, 0x00, 0x6e, 0x61, 0x63, 0x82, 0x59, byte(len(ev.Blob) >> 8), byte(len(ev.Blob))}
		v = append(append(v, ev.Blob...), 0x58, byte(len(claims)))
		ext = pkix.Extension{Id: ratls.OIDTaggedEvidence, Value: append(v, claims...)}
	} else {
		var rd [64]byte
		copy(rd[:], h[:])
		ev, err := s.Evidence(context.Background(), rd)
		if err != nil {
			t.Fatal(err)
		}
		ext = pkix.Extension{Id: ratls.OIDLegacyQuote, Value: ev.Blob}
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "RATLS"}, NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Hour), ExtraExtensions: []pkix.Extension{ext}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestGramineFormCertificates(t *testing.T) {
	s := newSim(t, 0xaa)
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	for _, tc := range []struct {
		tagged bool
		detail string
	}{{false, "SHA-256(SPKI) ‖ 0³² (Gramine legacy)"}, {true, "SHA-256(claims) ‖ 0³² (Gramine)"}} {
		res, err := verify.VerifyEvidence(ctx, gramineCert(t, s, tc.tagged), &verify.Options{Logger: quiet})
		if err != nil {
			t.Fatalf("tagged=%v: %v", tc.tagged, err)
		}
		last := res.Checks[len(res.Checks)-1]
		// The identity comes from the simulated report itself (no claims).
		m, _ := res.Measurement(verify.MeasManifest)
		if last.Name != "ratls.report-data-binding" || !strings.HasSuffix(last.Detail, tc.detail) || m[0] != 0xaa || len(res.Measurements) != 2 {
			t.Fatalf("tagged=%v: %+v", tc.tagged, res)
		}
	}
}

// TestRealQuoteInCertificate puts the recorded TDX quote into a fresh
// certificate (tagged, Gramine claims). The quote itself verifies with its
// collateral, but its report data cannot bind the new key: refused by the
// binding check, through the recognizer and through an RA-TLS verifier
// with the real-evidence adapters.
func TestRealQuoteInCertificate(t *testing.T) {
	col, quote := load(t, "tdx/dcap-qvl/tdx_quote", "tdx/dcap-qvl/tdx_quote_collateral.json")
	at := pinned(t, "2025-07-01T00:00:00Z")
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(spki)
	claims := append([]byte{0xa1, 0x6b}, "pubkey-hash"...)
	claims = append(append(claims, 0x58, 0x24, 0x82, 0x01, 0x58, 0x20), h[:]...)
	v := []byte{0xda, 0x00, 0x1a, 0x75, 0x01, 0x82, 0x59, byte(len(quote) >> 8), byte(len(quote))}
	v = append(append(append(v, quote...), 0x58, byte(len(claims))), claims...)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "RATLS"}, NotBefore: at().Add(-time.Hour), NotAfter: at().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: ratls.OIDTaggedEvidence, Value: v}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}

	res, err := verify.VerifyEvidence(context.Background(), der, &verify.Options{Collateral: col, Now: at, Logger: quiet})
	if verify.FailedCheck(err) != "ratls.report-data-binding" || res.Platform != verify.PlatformTDX {
		t.Fatalf("recognizer: %v", err)
	}
	passed := map[string]bool{}
	for _, c := range res.Checks {
		passed[c.Name] = c.OK
	}
	if !passed["quote.signature"] || !passed["tcb.status"] || !passed["ratls.self-signature"] {
		t.Fatalf("the quote itself should verify: %+v", res.Checks)
	}

	rv, err := NewVerifier(Options{Collateral: col, Now: at, Getenv: noEnv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var ce *ratls.CheckError
	if _, err := rv.VerifyCertificate(context.Background(), der); !errors.As(err, &ce) || ce.Check != ratls.CheckBinding {
		t.Fatalf("RA-TLS verifier: %v", err)
	}
	// Without collateral the evidence check refuses first.
	rv, _ = NewVerifier(Options{Now: at, Getenv: noEnv, Logger: quiet})
	if _, err := rv.VerifyCertificate(context.Background(), der); !errors.As(err, &ce) || ce.Check != ratls.CheckEvidence || !strings.Contains(err.Error(), "crl.root") {
		t.Fatalf("no collateral: %v", err)
	}
}
