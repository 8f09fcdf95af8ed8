package ratls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
)

// CertOptions configure CreateCertificate.
type CertOptions struct {
	// Platform produces the evidence (required).
	Platform tee.Platform
	// Measurement and Signer identify the application (from its signed
	// manifest); they travel in the nacre-claims claim.
	Measurement, Signer [32]byte
	// NotBefore/NotAfter default to now-1m and now+1y.
	NotBefore, NotAfter time.Time
	// LegacyExtension adds Gramine's deprecated quote extension (one more
	// evidence request). Default true via CreateCertificate's caller; see
	// NoLegacy.
	NoLegacy bool
	Now      func() time.Time
	Rand     io.Reader
}

// Certificate is a fresh RA-TLS key pair and certificate.
type Certificate struct {
	DER []byte
	Key *ecdsa.PrivateKey
}

// TLS returns the pair as a tls.Certificate.
func (c *Certificate) TLS() tls.Certificate {
	leaf, _ := x509.ParseCertificate(c.DER)
	return tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: c.Key, Leaf: leaf}
}

// CreateCertificate makes a fresh ECDSA P-384 key and a self-signed
// certificate shaped like Gramine's (subject CN=RATLS,O=GramineDevelopers,C=US,
// serial 1, ecdsa-with-SHA256) carrying the evidence in both extensions:
//
//   - OID 2.23.133.5.4.9: tag(T, [evidence, claims]) where claims has
//     Gramine's pubkey-hash and nacre's nacre-claims; the evidence's report
//     data is SHA-512 of nacre-claims, whose user data is SHA-256(SPKI) | 0^32.
//   - the legacy OID (unless NoLegacy): raw evidence whose report data is
//     SHA-256(SPKI) | 0^32, exactly as Gramine binds it.
func CreateCertificate(ctx context.Context, o CertOptions) (*Certificate, error) {
	if o.Platform == nil {
		return nil, fmt.Errorf("RA-TLS certificate: no platform")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	now := o.Now()
	key, err := ecdsa.GenerateKey(elliptic.P384(), o.Rand)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: generate P-384 key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pkHash := sha256.Sum256(spki)

	claims := tee.Claims{Measurement: o.Measurement, Signer: o.Signer, IssuedAt: now}
	copy(claims.UserData[:], pkHash[:])
	ev, err := tee.Attest(ctx, o.Platform, claims)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %w", err)
	}
	var legacy []pkix.Extension
	if !o.NoLegacy {
		blob, err := o.Platform.Evidence(ctx, gramineReportData(spki))
		if err != nil {
			return nil, fmt.Errorf("RA-TLS certificate: legacy evidence: %w", err)
		}
		legacy = []pkix.Extension{{Id: OIDLegacyQuote, Value: blob.Blob}}
	}
	der, err := SignEvidence(key, ev, legacy, o.NotBefore, o.NotAfter, now, o.Rand)
	if err != nil {
		return nil, err
	}
	return &Certificate{DER: der, Key: key}, nil
}

// SignEvidence makes key's self-signed certificate in Gramine's shape
// (subject CN=RATLS,O=GramineDevelopers,C=US, serial 1, ecdsa-with-SHA256,
// RFC 5280 method 1 key identifiers) carrying ev in the tagged-evidence
// extension, after the extensions in first (Gramine emits the legacy one
// first). ev's report data must bind ev.Claims, nacre claims whose user data
// is SHA-256 of key's SPKI. Zero notBefore/notAfter mean now-1m and now+1y.
func SignEvidence(key *ecdsa.PrivateKey, ev *tee.Evidence, first []pkix.Extension, notBefore, notAfter, now time.Time, rnd io.Reader) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %w", err)
	}
	tagged, err := encodeTaggedEvidence(ev, encodeClaims(spki, ev.Claims))
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %w", err)
	}
	exts := append(append([]pkix.Extension(nil), first...), pkix.Extension{Id: OIDTaggedEvidence, Value: tagged})
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Minute)
	}
	if notAfter.IsZero() {
		notAfter = now.AddDate(1, 0, 0)
	}
	ecdhPub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %w", err)
	}
	ski := sha1.Sum(ecdhPub.Bytes())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "RATLS", Organization: []string{"GramineDevelopers"}, Country: []string{"US"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:],
		AuthorityKeyId:        ski[:],
		ExtraExtensions:       exts,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: sign: %w", err)
	}
	return der, nil
}
