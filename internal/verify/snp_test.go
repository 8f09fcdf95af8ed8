package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"
)

// Every embedded AMD chain (Milan, Genoa, Turin; VCEK and VLEK) verifies:
// ARK self-signed, ASK/ASVK signed by the ARK (RSA-PSS).
func TestEmbeddedAMDRoots(t *testing.T) {
	for _, p := range []string{"Milan", "Genoa", "Turin"} {
		ark := amdCerts()["ARK-"+p]
		if ark == nil {
			t.Fatalf("no ARK-%s", p)
		}
		if err := ark.CheckSignature(ark.SignatureAlgorithm, ark.RawTBSCertificate, ark.Signature); err != nil {
			t.Errorf("ARK-%s self-signature: %v", p, err)
		}
		for _, ask := range []string{"SEV-" + p, "SEV-VLEK-" + p} {
			c := amdCerts()[ask]
			if c == nil {
				t.Fatalf("no %s", ask)
			}
			if c.SignatureAlgorithm != x509.SHA384WithRSAPSS {
				t.Errorf("%s: algorithm %v", ask, c.SignatureAlgorithm)
			}
			if err := ark.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
				t.Errorf("%s under ARK-%s: %v", ask, p, err)
			}
		}
	}
	if p := productFromCPUID(0x19, 0x01); p != "Milan" {
		t.Errorf("CPUID 19/01 → %q", p)
	}
	if p := productFromCPUID(0x19, 0x11); p != "Genoa" {
		t.Errorf("CPUID 19/11 → %q", p)
	}
	if p := productFromCPUID(0x1A, 0x02); p != "Turin" {
		t.Errorf("CPUID 1A/02 → %q", p)
	}
}

// A CRL naming ARK-Milan as issuer but not signed by it is refused; one
// that verifies would be checked for the VEK's serial.
func TestSNPCRLForged(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger := *amdCerts()["ARK-Milan"]
	forger.PublicKey = &key.PublicKey
	forger.KeyUsage |= x509.KeyUsageCRLSign
	at := mustTime(t, snpVCEK.at)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: at.Add(-time.Hour), NextUpdate: at.Add(time.Hour),
	}, &forger, key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	opts := snpVCEK.opts(t)
	opts.Collateral.CRLs = append(opts.Collateral.CRLs, crl)
	_, err = snpVCEK.verify(t, nil, opts)
	if FailedCheck(err) != "snp.crl" || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged CRL: %v", err)
	}
}

func TestSNPReportParseErrors(t *testing.T) {
	raw := readTestdata(t, snpVCEK.evidence)
	for name, edit := range map[string]func([]byte){
		"version 4":     func(b []byte) { b[0] = 4 },
		"algorithm 2":   func(b []byte) { b[0x34] = 2 },
		"R high bytes":  func(b []byte) { b[0x2A0+60] = 1 },
		"reserved tail": func(b []byte) { b[0x49F] = 1 },
		"extra byte":    nil,
		"signing key 7": func(b []byte) { b[0x48] = 7 << 2 },
	} {
		b := append([]byte(nil), raw...)
		if edit == nil {
			b = append(b, 0)
		} else {
			edit(b)
		}
		_, err := ParseSNPReport(b)
		if name == "signing key 7" {
			if err != nil {
				t.Errorf("%s: parse failed: %v", name, err)
			}
			_, err = snpVCEK.verify(t, b, nil)
			if FailedCheck(err) != "snp.signing_key" {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
