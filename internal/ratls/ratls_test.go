package ratls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
)

var t0 = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

var (
	testMeas = [32]byte{1, 2, 3}
	testSign = [32]byte{9, 8, 7}
)

var quiet = slog.New(slog.DiscardHandler)

type fixture struct {
	sim *tee.Sim
	ver *Verifier
}

func newFixture(t testing.TB, debug bool) *fixture {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: testMeas, Signer: testSign, Debug: debug, Now: func() time.Time { return t0 }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{
		Verifiers: map[string]EvidenceVerifier{tee.PlatformSim: &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{sim.PublicKey()}, Logger: quiet}},
		Policy:    Policy{Measurements: [][32]byte{testMeas}, Signers: [][32]byte{testSign}, MaxAge: 5 * time.Minute},
		Now:       func() time.Time { return t0.Add(10 * time.Second) },
		Logger:    quiet,
	}
	return &fixture{sim: sim, ver: v}
}

func (f *fixture) cert(t testing.TB, o CertOptions) *Certificate {
	t.Helper()
	if o.Platform == nil {
		o.Platform = f.sim
	}
	if o.Measurement == ([32]byte{}) {
		o.Measurement, o.Signer = testMeas, testSign
	}
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	c, err := CreateCertificate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkOf(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Check
	}
	return ""
}

func TestCreateAndVerify(t *testing.T) {
	f := newFixture(t, false)
	c := f.cert(t, CertOptions{})
	// Both OIDs appear with the exact DER bytes Gramine writes.
	if !bytes.Contains(c.DER, []byte{0x06, 0x0B, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x8A, 0x39, 0x06}) {
		t.Error("legacy OID bytes missing")
	}
	if !bytes.Contains(c.DER, []byte{0x06, 0x06, 0x67, 0x81, 0x05, 0x05, 0x04, 0x09}) {
		t.Error("TCG DICE OID bytes missing")
	}
	cert, _ := x509.ParseCertificate(c.DER)
	if cert.Subject.String() != "CN=RATLS,O=GramineDevelopers,C=US" || cert.SerialNumber.Int64() != 1 ||
		cert.SignatureAlgorithm != x509.ECDSAWithSHA256 || cert.IsCA || len(cert.SubjectKeyId) != 20 ||
		!bytes.Equal(cert.SubjectKeyId, cert.AuthorityKeyId) || c.Key.Curve != elliptic.P384() {
		t.Errorf("certificate shape: %s serial %v alg %v", cert.Subject, cert.SerialNumber, cert.SignatureAlgorithm)
	}
	res, err := f.ver.VerifyCertificate(context.Background(), c.DER)
	if err != nil {
		t.Fatal(err)
	}
	if res.Platform != "sim" || res.Status != "INSECURE-SIMULATED" || !res.Insecure || res.Source != "tcg-dice" ||
		!bytes.Equal(res.Measurement, testMeas[:]) || !res.IssuedAt.Equal(t0) {
		t.Fatalf("result %+v", res)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&c.Key.PublicKey)
	if res.PubkeyHash != sha256.Sum256(spki) {
		t.Error("pubkey hash")
	}
}

func TestClaimsMatchGramine(t *testing.T) {
	spki := []byte("spki")
	h := sha256.Sum256(spki)
	got := encodeClaims(spki, nil)
	want := append([]byte{0xA1, 0x6B}, "pubkey-hash"...)
	want = append(want, 0x58, 0x24, 0x82, 0x01, 0x58, 0x20)
	want = append(want, h[:]...)
	if !bytes.Equal(got, want) || len(got) != 51 {
		t.Fatalf("claims\n got %x\nwant %x", got, want)
	}
	ev := &tee.Evidence{Platform: tee.PlatformSGX, Blob: []byte{1, 2}}
	tagged, err := encodeTaggedEvidence(ev, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tagged, []byte{0xD9, 0xEA, 0x60, 0x82, 0x42, 1, 2, 0x58, 51}) {
		t.Fatalf("tagged evidence %x", tagged[:12])
	}
	te, err := ParseTaggedEvidence(tagged)
	if err != nil || te.Platform != "sgx" || te.PubkeyHashAlg != 1 || !bytes.Equal(te.PubkeyHash, h[:]) || te.NacreClaims != nil {
		t.Fatalf("parse: %v %+v", err, te)
	}
	for n := 0; n < len(tagged); n++ {
		if _, err := ParseTaggedEvidence(tagged[:n]); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
}

func TestRejections(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	good := f.cert(t, CertOptions{})

	cases := []struct {
		name  string
		check string
		setup func(v *Verifier) []byte
	}{
		{"wrong measurement", CheckMeasurement, func(v *Verifier) []byte { v.Policy.Measurements = [][32]byte{{0xff}}; return good.DER }},
		{"wrong signer", CheckSigner, func(v *Verifier) []byte { v.Policy.Signers = [][32]byte{{0xff}}; return good.DER }},
		{"platform", CheckPlatform, func(v *Verifier) []byte { v.Policy.Platforms = []string{"tdx"}; return good.DER }},
		{"stale", CheckFreshness, func(v *Verifier) []byte { v.Now = func() time.Time { return t0.Add(time.Hour) }; return good.DER }},
		{"future", CheckFreshness, func(v *Verifier) []byte {
			v.Now = func() time.Time { return t0.Add(-2 * time.Minute) }
			return f.cert(t, CertOptions{NotBefore: t0.Add(-time.Hour)}).DER
		}},
		{"untrusted sim", CheckEvidence, func(v *Verifier) []byte {
			v.Verifiers = map[string]EvidenceVerifier{"sim": &tee.SimVerifier{}}
			return good.DER
		}},
		{"no verifier", CheckEvidence, func(v *Verifier) []byte { v.Verifiers = nil; return good.DER }},
		{"expired cert", CheckValidity, func(v *Verifier) []byte {
			v.Policy.MaxAge = 0
			v.Now = func() time.Time { return t0.AddDate(2, 0, 0) }
			return good.DER
		}},
		{"debug", CheckDebug, func(v *Verifier) []byte {
			d := newFixture(t, true)
			v.Verifiers = d.ver.Verifiers
			return d.cert(t, CertOptions{}).DER
		}},
		{"claims measurement differs from platform", CheckBinding, func(v *Verifier) []byte {
			return f.cert(t, CertOptions{Measurement: [32]byte{0xee}, Signer: testSign}).DER
		}},
		{"evidence moved to another key", CheckBinding, func(v *Verifier) []byte { return transplant(t, good.DER) }},
		{"no evidence", CheckExtract, func(v *Verifier) []byte { return plainCert(t, nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := *f.ver
			der := tc.setup(&v)
			res, err := v.VerifyCertificate(ctx, der)
			if got := checkOf(err); got != tc.check {
				t.Fatalf("check %q, want %q (err %v)", got, tc.check, err)
			}
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("not ErrRejected: %v", err)
			}
			if tc.check == CheckMeasurement && (res == nil || res.Platform != "sim") {
				t.Fatalf("refused policy check returned no result for the audit log")
			}
		})
	}
}

// transplant copies the evidence extensions of der into a certificate for
// a different key: the binding check must notice.
func transplant(t testing.TB, der []byte) []byte {
	cert, _ := x509.ParseCertificate(der)
	var exts []pkix.Extension
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDTaggedEvidence) || e.Id.Equal(OIDLegacyQuote) {
			exts = append(exts, e)
		}
	}
	return plainCert(t, exts)
}

func plainCert(t testing.TB, exts []pkix.Extension) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "RATLS"}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour), ExtraExtensions: exts}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// gramineStyle builds a certificate exactly as Gramine binds it (claims with
// only pubkey-hash, report data = SHA-256(claims) | 0), with sim evidence.
func gramineStyle(t testing.TB, sim *tee.Sim, withTagged, withLegacy bool) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	var exts []pkix.Extension
	if withLegacy {
		ev, err := sim.Evidence(context.Background(), gramineReportData(spki))
		if err != nil {
			t.Fatal(err)
		}
		exts = append(exts, pkix.Extension{Id: OIDLegacyQuote, Value: ev.Blob})
	}
	if withTagged {
		claims := encodeClaims(spki, nil)
		ev, err := sim.Evidence(context.Background(), gramineReportData(claims))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := encodeTaggedEvidence(ev, claims)
		exts = append(exts, pkix.Extension{Id: OIDTaggedEvidence, Value: v})
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour), ExtraExtensions: exts}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestGramineBindings(t *testing.T) {
	f := newFixture(t, false)
	for _, tc := range []struct {
		name           string
		tagged, legacy bool
		source         string
	}{{"tagged", true, false, "tcg-dice"}, {"legacy", false, true, "legacy"}, {"both", true, true, "tcg-dice"}} {
		t.Run(tc.name, func(t *testing.T) {
			der := gramineStyle(t, f.sim, tc.tagged, tc.legacy)
			res, err := f.ver.VerifyCertificate(context.Background(), der)
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != tc.source || !bytes.Equal(res.Measurement, testMeas[:]) {
				t.Fatalf("result %+v", res)
			}
		})
	}
	// A legacy-only nacre certificate also verifies (sim reports identity natively).
	c := f.cert(t, CertOptions{})
	cert, _ := x509.ParseCertificate(c.DER)
	var legacyOnly []pkix.Extension
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDLegacyQuote) {
			legacyOnly = append(legacyOnly, e)
		}
	}
	if len(legacyOnly) != 1 {
		t.Fatal("no legacy extension in a default certificate")
	}
	noLegacy := f.cert(t, CertOptions{NoLegacy: true})
	x, err := ParseCertificate(noLegacy.DER)
	if err != nil || x.Source != "tcg-dice" {
		t.Fatal(err)
	}
	for _, e := range x.Cert.Extensions {
		if e.Id.Equal(OIDLegacyQuote) {
			t.Fatal("NoLegacy certificate has the legacy extension")
		}
	}
}

func TestReplayCache(t *testing.T) {
	f := newFixture(t, false)
	f.ver.Replay = &ReplayCache{Window: 10 * time.Minute}
	c := f.cert(t, CertOptions{})
	if _, err := f.ver.VerifyCertificate(context.Background(), c.DER); err != nil {
		t.Fatal(err)
	}
	_, err := f.ver.VerifyCertificate(context.Background(), c.DER)
	if checkOf(err) != CheckReplay || !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	rc := &ReplayCache{Window: time.Minute, Max: 1}
	if err := rc.Use([32]byte{1}, t0); err != nil {
		t.Fatal(err)
	}
	if err := rc.Use([32]byte{2}, t0); err == nil {
		t.Fatal("full cache accepted a new key")
	}
	if err := rc.Use([32]byte{2}, t0.Add(2*time.Minute)); err != nil || rc.Len() != 1 {
		t.Fatalf("expired entry not pruned: %v %d", err, rc.Len())
	}
	if err := rc.Use([32]byte{2}, t0.Add(4*time.Minute)); err != nil {
		t.Fatal("expired key refused")
	}
}

func TestTLSHandshake(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	srv := f.cert(t, CertOptions{}).TLS()
	cli := f.cert(t, CertOptions{}).TLS()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var srvPeer Peer
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, ServerConfig(ctx, srv, f.ver, &srvPeer))
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = io.WriteString(tc, "hello")
		done <- err
	}()
	var cliPeer Peer
	conn, err := tls.Dial("tcp", ln.Addr().String(), ClientConfig(ctx, &cli, f.ver, &cliPeer))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	for _, p := range []*Peer{&srvPeer, &cliPeer} {
		if r, err := p.Result(); err != nil || r.Platform != "sim" {
			t.Fatalf("peer: %v", err)
		}
	}
	if hex.EncodeToString(testMeas[:4]) != "01020300" {
		t.Fatal("fixture")
	}
}

func FuzzParseCertificate(f *testing.F) {
	fx := newFixture(f, false)
	f.Add(fx.cert(f, CertOptions{}).DER)
	f.Add(gramineStyle(f, fx.sim, false, true))
	f.Add(plainCert(f, nil))
	f.Fuzz(func(t *testing.T, der []byte) {
		x, err := ParseCertificate(der)
		if err != nil {
			if checkOf(err) == "" {
				t.Fatalf("error without check name: %v", err)
			}
			return
		}
		if x.Evidence == nil || x.Evidence.Platform == "" {
			t.Fatal("parsed without evidence")
		}
		_, _ = fx.ver.VerifyCertificate(context.Background(), der)
	})
}

func FuzzParseEvidence(f *testing.F) {
	fx := newFixture(f, false)
	c := fx.cert(f, CertOptions{})
	x, _ := ParseCertificate(c.DER)
	for _, e := range x.Cert.Extensions {
		if e.Id.Equal(OIDTaggedEvidence) {
			f.Add(e.Value)
		}
	}
	f.Add([]byte{0xD9, 0xEA, 0x60, 0x82, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		te, err := ParseTaggedEvidence(b)
		if err != nil {
			return
		}
		if te.Platform == "" || te.PubkeyHash == nil {
			t.Fatal("accepted without platform or pubkey-hash")
		}
	})
}

func BenchmarkCreateCertificate(b *testing.B) {
	f := newFixture(b, false)
	for b.Loop() {
		f.cert(b, CertOptions{})
	}
}

func BenchmarkVerifyCertificate(b *testing.B) {
	f := newFixture(b, false)
	der := f.cert(b, CertOptions{}).DER
	f.ver.Logger = slog.New(slog.DiscardHandler)
	for b.Loop() {
		if _, err := f.ver.VerifyCertificate(context.Background(), der); err != nil {
			b.Fatal(err)
		}
	}
}
