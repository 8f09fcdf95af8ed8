package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestExpiredCollateral(t *testing.T) {
	for _, c := range []struct {
		s     sample
		at    string
		check string
	}{
		// PCK CRL nextUpdate 2025-07-19T10:23:18Z; tcbInfo still valid.
		{sgxSample, "2025-07-19T10:30:00Z", "crl.pck"},
		// Before the PCK CRL's thisUpdate.
		{sgxSample, "2025-06-19T10:00:00Z", "crl.pck"},
		// PCK CRL ends 2025-07-19T10:00:35Z, before tcbInfo (10:16:03Z).
		{tdxSample, "2025-07-19T10:05:00Z", "crl.pck"},
		// go-tdx-guest's test: in 2053 the PCK leaf has expired.
		{gtgSample, "2053-07-01T00:00:00Z", "pck.chain"},
		// QE identity ends 2025-07-19T10:01:18Z, before the CRLs and tcbInfo.
		{sgxSample, "2025-07-19T10:10:00Z", "qe_identity.validity"},
		// SNP: VLEK valid only until 2025-12-10.
		{snpVLEK, "2026-01-01T00:00:00Z", "snp.chain"},
		{snpVCEK, "2021-01-01T00:00:00Z", "snp.chain"},
	} {
		opts := c.s.opts(t)
		at := mustTime(t, c.at)
		opts.Now = func() time.Time { return at }
		_, err := c.s.verify(t, nil, opts)
		if got := FailedCheck(err); got != c.check {
			t.Errorf("%s at %s: failed check %q (%v), want %q", c.s.name, c.at, got, err, c.check)
		}
		if c.check != "qe_identity.validity" && !errors.Is(err, ErrExpired) {
			t.Errorf("%s at %s: %v does not wrap ErrExpired", c.s.name, c.at, err)
		}
	}
}

func TestMissingCollateral(t *testing.T) {
	at := mustTime(t, sgxSample.at)
	raw := readTestdata(t, sgxSample.evidence)
	_, err := sgxSample.verify(t, raw, &Options{Now: func() time.Time { return at }})
	if FailedCheck(err) != "crl.root" || !errors.Is(err, ErrMissingCollateral) {
		t.Fatalf("no collateral: %v, want crl.root / ErrMissingCollateral", err)
	}
	res, err := sgxSample.verify(t, raw, &Options{Now: func() time.Time { return at }, AllowMissingCollateral: true})
	if err != nil {
		t.Fatalf("AllowMissingCollateral: %v", err)
	}
	if res.TCBStatus != TCBUnknown {
		t.Errorf("status %s, want Unknown", res.TCBStatus)
	}
	skipped := 0
	for _, c := range res.Checks {
		if c.Skipped {
			skipped++
		}
	}
	if skipped != 4 { // crl.root, crl.pck, tcb_info, qe_identity
		t.Errorf("%d skipped checks, want 4: %+v", skipped, res.Checks)
	}
}

// The samples without collateral (README §4, §5): signatures and chains
// verify; debug bits are reported.
func TestEvidenceOnlySamples(t *testing.T) {
	for _, c := range []struct {
		file  string
		at    string
		debug bool
	}{
		{"sgx/trustee/occlum_quote.dat", "2025-06-01T00:00:00Z", true},
		{"tdx/trustee/tdx_quote_4.dat", "2025-06-01T00:00:00Z", true},
		{"tdx/trustee/tdx_quote_5.dat", "2025-06-01T00:00:00Z", false},
		{"tdx/trustee/tdx_quote_6.dat", "2025-11-10T00:00:00Z", false},
	} {
		at := mustTime(t, c.at)
		res, err := VerifyEvidence(t.Context(), readTestdata(t, c.file), &Options{Now: func() time.Time { return at }, AllowMissingCollateral: true})
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if res.Debug != c.debug || res.TCBStatus != TCBUnknown {
			t.Errorf("%s: debug %v status %s", c.file, res.Debug, res.TCBStatus)
		}
	}
}

// tdx_quote_6 with trustee's tcbInfo/QE identity, the TCB signing chain and
// Root CA CRL from dcap-qvl (no PCK CRL exists for its window): OutOfDate.
func TestOutdatedTDX(t *testing.T) {
	bundle, err := LoadCollateral("testdata/tdx/dcap-qvl/tdx_quote_collateral.json")
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := LoadCollateral("testdata/tdx/trustee/tcbInfo.json", "testdata/tdx/trustee/enclaveIdentity.json")
	if err != nil {
		t.Fatal(err)
	}
	col := &Collateral{Certs: bundle.Certs, TCBInfos: pcs.TCBInfos, QEIdentities: pcs.QEIdentities}
	for _, crl := range bundle.CRLs {
		if crl.Issuer.CommonName == "Intel SGX Root CA" {
			col.CRLs = append(col.CRLs, crl)
		}
	}
	at := mustTime(t, "2025-11-10T00:00:00Z")
	opts := &Options{Now: func() time.Time { return at }, Collateral: col}
	_, err = VerifyEvidence(t.Context(), readTestdata(t, "tdx/trustee/tdx_quote_6.dat"), opts)
	if FailedCheck(err) != "crl.pck" {
		t.Fatalf("without PCK CRL: %v, want crl.pck missing", err)
	}
	opts.AllowMissingCollateral = true
	res, err := VerifyEvidence(t.Context(), readTestdata(t, "tdx/trustee/tdx_quote_6.dat"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.TCBStatus != TCBOutOfDate || len(res.AdvisoryIDs) != 0 {
		t.Fatalf("status %s %v, want OutOfDate without advisories", res.TCBStatus, res.AdvisoryIDs)
	}
}

func TestWrongChains(t *testing.T) {
	// tcbInfo "signed" by a chain whose leaf is the PCK Processor CA.
	opts := sgxSample.opts(t)
	var procCA *x509.Certificate
	for _, c := range opts.Collateral.Certs {
		if c.Subject.CommonName == "Intel SGX PCK Processor CA" {
			procCA = c
		}
	}
	ti := opts.Collateral.TCBInfos[0]
	ti.Chain = []*x509.Certificate{procCA, intelRoot()}
	opts.Collateral.TCBInfos = []SignedJSON{ti}
	if _, err := sgxSample.verify(t, nil, opts); FailedCheck(err) != "tcb_info.signature" || !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("tcbInfo with a foreign signer: %v", err)
	}

	// tcbInfo signed (hypothetically) by a PCK leaf: a valid chain to the
	// Intel root, but not the TCB Signing key.
	opts = sgxSample.opts(t)
	q, err := ParseQuote(readTestdata(t, sgxSample.evidence))
	if err != nil {
		t.Fatal(err)
	}
	pckChain, err := parseStrictPEMChain(q.CertData)
	if err != nil {
		t.Fatal(err)
	}
	ti = opts.Collateral.TCBInfos[0]
	ti.Chain = pckChain
	opts.Collateral.TCBInfos = []SignedJSON{ti}
	if _, err := sgxSample.verify(t, nil, opts); FailedCheck(err) != "tcb_info.signature" || !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("tcbInfo with a PCK signer: %v", err)
	}

	// tcbInfo body altered by one byte.
	opts = sgxSample.opts(t)
	ti = opts.Collateral.TCBInfos[0]
	ti.Body = []byte(strings.Replace(string(ti.Body), `"pcesvn":13`, `"pcesvn":12`, 1))
	opts.Collateral.TCBInfos = []SignedJSON{ti}
	if _, err := sgxSample.verify(t, nil, opts); FailedCheck(err) != "tcb_info.signature" || !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered tcbInfo: %v", err)
	}

	// A self-signed impostor root with the Intel name.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: intelRoot().Subject, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	fake, _ := x509.ParseCertificate(der)
	if err := verifyIntelChain([]*x509.Certificate{fake}, time.Now()); !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("impostor root: %v", err)
	}

	// SNP: a VCEK that AMD did not sign (trustee's parse-only fixture).
	opts = snpVCEK.opts(t)
	bad, err := LoadCollateral("testdata/snp/trustee/test-vcek-invalid-new.der", "testdata/snp/go-sev-guest/milan.testcer")
	if err != nil {
		t.Fatal(err)
	}
	opts.Collateral = bad
	if _, err := snpVCEK.verify(t, nil, opts); FailedCheck(err) != "snp.chain" {
		t.Errorf("foreign VCEK: %v", err)
	}
	// SNP: the VLEK report given only a VCEK.
	opts = snpVLEK.opts(t)
	opts.Collateral, _ = LoadCollateral("testdata/snp/go-sev-guest/vcek.testcer")
	if _, err := snpVLEK.verify(t, nil, opts); FailedCheck(err) != "snp.chain" || !errors.Is(err, ErrMissingCollateral) {
		t.Errorf("VLEK report with VCEK: %v", err)
	}
	// SNP: VCEK report against the VLEK's issuer: the VCEK's issuer is SEV-Milan; a
	// collateral ARK-Milan with another key is refused.
	opts = snpVCEK.opts(t)
	fakeARKTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ARK-Milan"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true}
	der, _ = x509.CreateCertificate(rand.Reader, fakeARKTmpl, fakeARKTmpl, &key.PublicKey, key)
	fakeARK, _ := x509.ParseCertificate(der)
	opts.Collateral.Certs = append(opts.Collateral.Certs, fakeARK)
	if _, err := snpVCEK.verify(t, nil, opts); FailedCheck(err) != "snp.chain" || !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("impostor ARK: %v", err)
	}
}

// checkCRL with a locally made CA: revoked serials, bad signature, window.
func TestCheckCRL(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCRLSign | x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(der)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)}
	der, _ = x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	leaf, _ := x509.ParseCertificate(der)
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: t0, NextUpdate: t0.AddDate(0, 1, 0),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(77), RevocationTime: t0}},
	}, ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	crl, _ := x509.ParseRevocationList(crlDER)
	now := t0.AddDate(0, 0, 10)
	if err := checkCRL(crl, ca, now, leaf); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked leaf: %v", err)
	}
	if err := checkCRL(crl, ca, now, ca); err != nil {
		t.Errorf("unrevoked cert: %v", err)
	}
	if err := checkCRL(crl, ca, t0.AddDate(0, 2, 0), ca); !errors.Is(err, ErrExpired) {
		t.Errorf("expired CRL: %v", err)
	}
	bad := *crl
	bad.Signature = append([]byte(nil), crl.Signature...)
	bad.Signature[len(bad.Signature)-3] ^= 1
	if err := checkCRL(&bad, ca, now, ca); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered CRL: %v", err)
	}
	if err := checkCRL(crl, intelRoot(), now); !errors.Is(err, ErrMismatch) {
		t.Errorf("CRL of another issuer: %v", err)
	}
}

func TestTCBStatusConvergence(t *testing.T) {
	for _, c := range []struct{ platform, other, want TCBStatus }{
		{TCBUpToDate, TCBUpToDate, TCBUpToDate},
		{TCBUpToDate, TCBOutOfDate, TCBOutOfDate},
		{TCBSWHardeningNeeded, TCBOutOfDate, TCBOutOfDate},
		{TCBConfigurationNeeded, TCBOutOfDate, TCBOutOfDateConfigurationNeeded},
		{TCBConfigurationAndSWHardeningNeeded, TCBOutOfDate, TCBOutOfDateConfigurationNeeded},
		{TCBUpToDate, TCBRevoked, TCBRevoked},
		{TCBOutOfDate, TCBUpToDate, TCBOutOfDate},
	} {
		if got := convergeStatus(c.platform, c.other); got != c.want {
			t.Errorf("converge(%s, %s) = %s, want %s", c.platform, c.other, got, c.want)
		}
	}
}

// dcap-qvl's test: a tcbInfo level with 15 components must be refused.
func TestTCBInfoComponentCount(t *testing.T) {
	opts := tdxSample.opts(t)
	body := string(opts.Collateral.TCBInfos[0].Body)
	bad := strings.Replace(body, `{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}]`, `{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0},{"svn":0}]`, 1)
	if bad == body {
		t.Fatal("test edit did not apply")
	}
	if _, err := ParseTCBInfo([]byte(bad)); !errors.Is(err, ErrMalformed) {
		t.Errorf("15 components: %v", err)
	}
}

// The README windows are inclusive at both ends (dcap-qvl's own test pins
// the end of the window minus one second).
func TestWindowEdges(t *testing.T) {
	for _, c := range []struct {
		s  sample
		at string
	}{
		{sgxSample, "2025-06-19T10:56:11Z"},
		{sgxSample, "2025-07-19T10:01:17Z"},
		{tdxSample, "2025-06-19T10:32:27Z"},
		{tdxSample, "2025-07-19T10:00:35Z"},
		{snpVLEK, "2024-12-10T22:14:21Z"},
		{snpVLEK, "2025-12-10T22:14:21Z"},
	} {
		opts := c.s.opts(t)
		at := mustTime(t, c.at)
		opts.Now = func() time.Time { return at }
		if _, err := c.s.verify(t, nil, opts); err != nil {
			t.Errorf("%s at %s: %v", c.s.name, c.at, err)
		}
		opts.Now = func() time.Time { return at.Add(-time.Second) }
		if strings.HasSuffix(c.at, ":11Z") || strings.HasSuffix(c.at, ":27Z") || c.at == "2024-12-10T22:14:21Z" {
			if _, err := c.s.verify(t, nil, opts); err == nil {
				t.Errorf("%s one second before %s accepted", c.s.name, c.at)
			}
		}
	}
}
