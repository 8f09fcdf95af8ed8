package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// intelRootPEM is the production Intel SGX Root CA certificate
// (serial 22650cd65a9d3489f383b49552bf501b392706ac, 2018-05-21 .. 2049-12-31),
// as published at certificates.trustedservices.intel.com and carried in every
// PCK chain.
const intelRootPEM = `-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`

// IntelRootSPKISHA256 is the SHA-256 of the Intel SGX Root CA's
// SubjectPublicKeyInfo. A root found in a quote or in collateral is trusted
// only if its key hashes to this value.
const IntelRootSPKISHA256 = "a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e"

// intelRoot is the embedded Intel SGX Root CA, parsed on first use: every
// nacre process (and the sandbox child) would otherwise parse it at start.
var intelRoot = sync.OnceValue(func() *x509.Certificate { return mustParsePEMCert(intelRootPEM) })

func mustParsePEMCert(s string) *x509.Certificate {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		panic("verify: embedded certificate is not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		panic("verify: embedded certificate: " + err.Error())
	}
	return c
}

func spkiHash(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h[:])
}

// isIntelRoot reports whether c carries the embedded Intel SGX Root CA key.
func isIntelRoot(c *x509.Certificate) bool {
	return spkiHash(c) == IntelRootSPKISHA256 && bytes.Equal(c.RawSubject, intelRoot().RawSubject)
}

// parsePEMCerts decodes every CERTIFICATE block of a PEM text, ignoring NULs
// and text around blocks.
func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return out, nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%w: certificate %q valid %s .. %s, now %s", ErrExpired, c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyIntelChain checks that chain (leaf first) is signed link by link, is
// valid at now, that every issuer is a CA, and that it ends in the embedded
// Intel SGX Root CA (a root in the chain is accepted only if it matches).
func verifyIntelChain(chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("empty certificate chain")
	}
	if last := chain[len(chain)-1]; bytes.Equal(last.RawSubject, last.RawIssuer) {
		if !isIntelRoot(last) {
			return fmt.Errorf("%w: self-signed %q is not the Intel SGX Root CA (SPKI SHA-256 %s)", ErrUntrustedRoot, last.Subject.CommonName, spkiHash(last))
		}
		// A copy of the root that is not byte-identical (a re-issue with the
		// same key) must still be self-signed and current.
		if !bytes.Equal(last.Raw, intelRoot().Raw) {
			if err := last.CheckSignature(last.SignatureAlgorithm, last.RawTBSCertificate, last.Signature); err != nil {
				return fmt.Errorf("%w: Intel SGX Root CA copy in the chain: %v", ErrBadSignature, err)
			}
			if err := checkValidity(last, now); err != nil {
				return err
			}
		}
		chain = chain[:len(chain)-1]
	}
	chain = append(chain[:len(chain):len(chain)], intelRoot())
	for i, c := range chain {
		if err := checkValidity(c, now); err != nil {
			return err
		}
		if i == len(chain)-1 {
			if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
				return fmt.Errorf("%w: root self-signature: %v", ErrBadSignature, err)
			}
			break
		}
		parent := chain[i+1]
		if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
			return fmt.Errorf("%w: %q is issued by %q, next certificate is %q", ErrUntrustedRoot, c.Subject.CommonName, c.Issuer.CommonName, parent.Subject.CommonName)
		}
		if !parent.IsCA {
			return fmt.Errorf("%w: issuer %q is not a CA", ErrUntrustedRoot, parent.Subject.CommonName)
		}
		if err := parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			return fmt.Errorf("%w: %q signed by %q: %v", ErrBadSignature, c.Subject.CommonName, parent.Subject.CommonName, err)
		}
	}
	return nil
}

// checkCRL verifies crl's signature by issuer and its validity window, and
// that none of the serials is listed.
func checkCRL(crl *x509.RevocationList, issuer *x509.Certificate, now time.Time, certs ...*x509.Certificate) error {
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return fmt.Errorf("%w: CRL issuer %q, expected %q", ErrMismatch, crl.Issuer.CommonName, issuer.Subject.CommonName)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		// CheckSignatureFrom insists on the cRLSign key usage; fall back to
		// the bare signature for issuers that omit key usage.
		if err2 := issuer.CheckSignature(crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature); err2 != nil {
			return fmt.Errorf("%w: CRL of %q: %v", ErrBadSignature, issuer.Subject.CommonName, err)
		}
	}
	if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
		return fmt.Errorf("%w: CRL of %q valid %s .. %s, now %s", ErrExpired, issuer.Subject.CommonName,
			crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for _, c := range certs {
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return fmt.Errorf("%w: %q serial %x listed in the CRL of %q (revoked %s)", ErrRevoked, c.Subject.CommonName, c.SerialNumber, issuer.Subject.CommonName, e.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// PCK certificate SGX extensions (Intel SGX PCK Certificate and CRL Profile).
var (
	oidSGXExt      = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	oidSGXPPID     = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 1}
	oidSGXTCB      = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 2}
	oidSGXPCEID    = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 3}
	oidSGXFMSPC    = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 4}
	oidSGXType     = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 5}
	oidSGXPlatInst = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 6}
)

// PCKExtensions are the values of the PCK certificate's SGX extension.
type PCKExtensions struct {
	PPID       []byte
	CompSVN    [16]byte // SGX TCB component SVNs 1..16
	PCESVN     uint16
	CPUSVN     []byte
	PCEID      []byte // 2 bytes
	FMSPC      []byte // 6 bytes
	SGXType    int    // 0 Standard, 1 Scalable, 2 Scalable with integrity
	PlatformID []byte // platform instance ID (Scalable types only)
}

type oidValue struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// ParsePCKExtensions extracts the SGX extension (OID 1.2.840.113741.1.13.1)
// of a PCK certificate.
func ParsePCKExtensions(c *x509.Certificate) (*PCKExtensions, error) {
	var raw []byte
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSGXExt) {
			raw = e.Value
		}
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: certificate %q has no SGX extension %s", ErrMalformed, c.Subject.CommonName, oidSGXExt)
	}
	var items []oidValue
	if rest, err := asn1.Unmarshal(raw, &items); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: SGX extension: %v", ErrMalformed, err)
	}
	x := &PCKExtensions{SGXType: -1}
	var haveTCB bool
	for _, it := range items {
		var err error
		switch {
		case it.ID.Equal(oidSGXPPID):
			x.PPID, err = octets(it.Value, 16)
		case it.ID.Equal(oidSGXPCEID):
			x.PCEID, err = octets(it.Value, 2)
		case it.ID.Equal(oidSGXFMSPC):
			x.FMSPC, err = octets(it.Value, 6)
		case it.ID.Equal(oidSGXPlatInst):
			x.PlatformID, err = octets(it.Value, 16)
		case it.ID.Equal(oidSGXType):
			var e asn1.Enumerated
			_, err = asn1.Unmarshal(it.Value.FullBytes, &e)
			x.SGXType = int(e)
		case it.ID.Equal(oidSGXTCB):
			err = x.parseTCB(it.Value.FullBytes)
			haveTCB = true
		}
		if err != nil {
			return nil, fmt.Errorf("%w: SGX extension %s: %v", ErrMalformed, it.ID, err)
		}
	}
	if !haveTCB || x.FMSPC == nil || x.PCEID == nil {
		return nil, fmt.Errorf("%w: SGX extension lacks TCB, FMSPC or PCE-ID", ErrMalformed)
	}
	return x, nil
}

func octets(v asn1.RawValue, n int) ([]byte, error) {
	var b []byte
	if _, err := asn1.Unmarshal(v.FullBytes, &b); err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), n)
	}
	return b, nil
}

// parseTCB reads SEQUENCE { {oid .2.1, INTEGER} .. {oid .2.16}, {oid .2.17
// PCESVN}, {oid .2.18 CPUSVN OCTET STRING} }.
func (x *PCKExtensions) parseTCB(der []byte) error {
	var items []oidValue
	if rest, err := asn1.Unmarshal(der, &items); err != nil || len(rest) != 0 {
		return fmt.Errorf("TCB: %v", err)
	}
	seen := 0
	for _, it := range items {
		if len(it.ID) != len(oidSGXTCB)+1 || !it.ID[:len(oidSGXTCB)].Equal(oidSGXTCB) {
			continue
		}
		n := it.ID[len(oidSGXTCB)]
		switch {
		case n >= 1 && n <= 17:
			var v *big.Int
			if _, err := asn1.Unmarshal(it.Value.FullBytes, &v); err != nil {
				return fmt.Errorf("TCB component %d: %v", n, err)
			}
			limit := int64(255)
			if n == 17 {
				limit = 65535
			}
			if v.Sign() < 0 || v.Cmp(big.NewInt(limit)) > 0 {
				return fmt.Errorf("TCB component %d out of range: %s", n, v)
			}
			if n == 17 {
				x.PCESVN = uint16(v.Int64())
			} else {
				x.CompSVN[n-1] = byte(v.Int64())
			}
			seen++
		case n == 18:
			b, err := octets(it.Value, 16)
			if err != nil {
				return fmt.Errorf("CPUSVN: %v", err)
			}
			x.CPUSVN = b
		}
	}
	if seen != 17 {
		return fmt.Errorf("TCB has %d of 17 SVN entries", seen)
	}
	return nil
}

// p256Key turns a raw 64-byte x||y into a public key, rejecting points off
// the curve.
func p256Key(raw []byte) (*ecdsa.PublicKey, error) {
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, raw...))
	if err != nil {
		return nil, fmt.Errorf("%w: attestation key is not a P-256 point: %v", ErrMalformed, err)
	}
	return k, nil
}

// verifyRawP256 checks a raw r||s ECDSA P-256 signature over SHA-256(msg).
func verifyRawP256(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, h[:], r, s)
}

// parseStrictPEMChain parses the PCK chain of a quote's certification data
// strictly: only CERTIFICATE blocks without headers, separated by whitespace
// or NULs, base64 without stray padding bits. Every byte of the quote then
// matters, so a flipped bit cannot go unnoticed.
func parseStrictPEMChain(b []byte) ([]*x509.Certificate, error) {
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	var out []*x509.Certificate
	skip := func(b []byte) []byte {
		return bytes.TrimLeft(b, "\r\n\x00") // no spaces: one bit turns NUL into one
	}
	rest := skip(b)
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte(begin)) {
			return nil, fmt.Errorf("unexpected text at PEM block %d: %.20q", len(out)+1, rest)
		}
		rest = rest[len(begin):]
		i := bytes.Index(rest, []byte(end))
		if i < 0 {
			return nil, fmt.Errorf("PEM block %d has no END line", len(out)+1)
		}
		body := bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, rest[:i])
		der, err := base64.StdEncoding.Strict().DecodeString(string(body))
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %v", len(out)+1, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(out)+1, err)
		}
		out = append(out, c)
		rest = skip(rest[i+len(end):])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return out, nil
}
