package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// Check names recorded for RA-TLS certificates: "ratls." + the ratls check.
const certCheckPrefix = "ratls."

// certDER returns the DER of a DER certificate or of the first CERTIFICATE
// block of PEM input. Other PEM blocks (a private key saved alongside) are
// ignored; a second CERTIFICATE is refused when strict: RA-TLS certificates
// are self-signed and stand alone, so a chain is not one.
func certDER(raw []byte, strict bool) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	if !bytes.HasPrefix(t, []byte("-----BEGIN ")) {
		return raw, nil
	}
	var der []byte
	for rest := t; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if der != nil {
			if strict {
				return nil, errors.New("PEM input holds a chain of certificates; an RA-TLS certificate is self-signed and stands alone")
			}
			break
		}
		der = blk.Bytes
	}
	if der == nil {
		return nil, errors.New("PEM input has no CERTIFICATE block")
	}
	return der, nil
}

// looksLikeCert claims X.509 certificates that carry an RA-TLS evidence
// extension; ordinary certificates (a PCK chain, a server certificate) are
// left unrecognized.
func looksLikeCert(raw []byte) bool {
	if len(raw) < 2 || (raw[0] != 0x30 && !bytes.Contains(raw, []byte("-----BEGIN CERTIFICATE-----"))) {
		return false
	}
	der, err := certDER(raw, false)
	if err != nil {
		return false
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return false
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(ratls.OIDTaggedEvidence) || e.Id.Equal(ratls.OIDLegacyQuote) {
			return true
		}
	}
	return false
}

// evidenceFunc adapts a function to ratls.EvidenceVerifier.
type evidenceFunc func(ctx context.Context, ev *tee.Evidence) (*tee.Verified, error)

func (f evidenceFunc) VerifyEvidence(ctx context.Context, ev *tee.Evidence) (*tee.Verified, error) {
	return f(ctx, ev)
}

// certSteps are ratls.Verifier.VerifyCertificate's checks in the order it
// runs them (docs/spec/ratls.md §2) up to the evidence; the structural part
// of report-data-binding comes before the platform check.
var certSteps = []string{ratls.CheckParse, ratls.CheckExtract, ratls.CheckPublicKey, ratls.CheckSignature, ratls.CheckValidity, ratls.CheckBinding, ratls.CheckPlatform}

// VerifyCertificate verifies an RA-TLS certificate (PEM or DER) in
// verify's terms: the certificate checks of internal/ratls (recorded as
// "ratls.<check>"), the embedded evidence's own checks (quote.*, snp.*,
// sim.*), and the binding of the certificate's public key into the
// platform-signed report data. The Result is the embedded evidence's, with
// nacre's manifest measurement and signer from the claims added as
// verify.MeasManifest / MeasManifestSigner; Details is the evidence's own
// (*verify.Quote, *verify.SNPReport, *tee.SimReport), so policy rules apply
// unchanged. Simulated evidence needs WithSimKeys. No freshness or replay
// rule is applied: that is the relying party's policy.
func VerifyCertificate(ctx context.Context, raw []byte, opts *verify.Options) (*verify.Result, error) {
	res := &verify.Result{}
	der, err := certDER(raw, true)
	if err != nil {
		return res, res.Fail(certCheckPrefix+ratls.CheckParse, fmt.Errorf("%w: %w", verify.ErrMalformed, err))
	}
	if opts == nil {
		opts = &verify.Options{}
	}
	var inner *verify.Result
	capture := evidenceFunc(func(ctx context.Context, ev *tee.Evidence) (*tee.Verified, error) {
		r, err := verifyBlob(ctx, ev, opts)
		inner = r
		if err != nil {
			return nil, err
		}
		return ToVerified(r), nil
	})
	rv := &ratls.Verifier{
		Verifiers: map[string]ratls.EvidenceVerifier{tee.PlatformTDX: capture, tee.PlatformSNP: capture, tee.PlatformSGX: capture, tee.PlatformSim: capture},
		// Debug, platforms and identities are policy.Evaluate's business.
		Policy: ratls.Policy{AllowDebug: true},
		Now:    opts.Now,
		Logger: opts.Logger,
	}
	rr, verr := rv.VerifyCertificate(ctx, der)
	x, _ := ratls.ParseCertificate(der) // for the check details; nil if it failed above

	failed := ""
	var ce *ratls.CheckError
	if errors.As(verr, &ce) {
		failed = ce.Check
	} else if verr != nil {
		failed = ratls.CheckEvidence
	}
	var innerChecks []verify.Check
	if inner != nil {
		res, innerChecks = inner, inner.Checks
		res.Checks = nil
	} else if x != nil {
		res.Platform = verify.Platform(x.Evidence.Platform)
	}
	// Passed certificate checks before the evidence (or before the failure).
	for _, step := range certSteps {
		if step == failed && (inner == nil || step != ratls.CheckBinding) {
			return res, res.Fail(certCheckPrefix+step, ce.Err)
		}
		if step == ratls.CheckPlatform {
			continue // no platform restriction here
		}
		res.Pass(certCheckPrefix+step, "%s", certDetail(step, x, false))
	}
	if inner != nil {
		res.Checks = append(res.Checks, innerChecks...)
		if failed == ratls.CheckEvidence {
			// inner already recorded and returned its own *verify.CheckError.
			var vce *verify.CheckError
			if errors.As(verr, &vce) {
				return res, vce
			}
			return res, res.Fail(certCheckPrefix+ratls.CheckEvidence, verr)
		}
	} else if failed == ratls.CheckEvidence {
		return res, res.Fail(certCheckPrefix+ratls.CheckEvidence, verr)
	}
	if failed != "" {
		return res, res.Fail(certCheckPrefix+failed, ce.Err)
	}
	res.Pass(certCheckPrefix+ratls.CheckBinding, "%s", certDetail(ratls.CheckBinding, x, true))
	if x != nil && x.Tagged != nil && x.Tagged.NacreClaims != nil {
		if _, ok := res.Measurement(verify.MeasManifest); !ok {
			// Bound: rr's claims passed the binding check above.
			res.Measurements = append(res.Measurements,
				verify.Measurement{Name: verify.MeasManifest, Value: bytes.Clone(rr.Measurement)},
				verify.Measurement{Name: verify.MeasManifestSigner, Value: bytes.Clone(rr.Signer)})
		}
	}
	res.Accepted = true
	return res, nil
}

// certDetail describes a passed certificate check.
func certDetail(step string, x *ratls.Extracted, afterEvidence bool) string {
	if x == nil {
		return ""
	}
	c := x.Cert
	switch step {
	case ratls.CheckParse:
		return fmt.Sprintf("X.509 v%d certificate, subject %q", c.Version, c.Subject.String())
	case ratls.CheckExtract:
		d := fmt.Sprintf("%s extension: %s evidence, %d bytes", x.Source, x.Evidence.Platform, len(x.Evidence.Blob))
		if len(x.Evidence.Aux) > 0 {
			d += fmt.Sprintf(" + %d-byte certificate table", len(x.Evidence.Aux))
		}
		if x.Evidence.Claims != nil {
			d += ", nacre claims"
		}
		return d
	case ratls.CheckPublicKey:
		h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		name := "?"
		if k, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
			name = k.Curve.Params().Name
		}
		return fmt.Sprintf("ECDSA %s, SHA-256(SPKI) %x", name, h)
	case ratls.CheckSignature:
		return "signed by its own key (" + c.SignatureAlgorithm.String() + ")"
	case ratls.CheckValidity:
		return fmt.Sprintf("valid %s .. %s", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	case ratls.CheckBinding:
		switch {
		case !afterEvidence && x.Tagged != nil:
			return "pubkey-hash claim matches the certificate's public key"
		case !afterEvidence:
			return "legacy extension: binding checked against the platform-signed report data"
		case x.Evidence.Claims != nil:
			cl, err := tee.ParseClaims(x.Evidence.Claims)
			if err != nil {
				return "report data = SHA-512(nacre-claims)"
			}
			return fmt.Sprintf("platform-signed report data = SHA-512(nacre-claims); claims bind SHA-256(SPKI), issued at %s", cl.IssuedAt.Format(time.RFC3339))
		case x.Tagged != nil:
			return "platform-signed report data = SHA-256(claims) ‖ 0³² (Gramine)"
		default:
			return "platform-signed report data = SHA-256(SPKI) ‖ 0³² (Gramine legacy)"
		}
	}
	return ""
}
