package ratls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
)

// EvidenceVerifier checks one platform's evidence (signature chain,
// collateral, TCB) and reports what it vouches for. tee.SimVerifier is one;
// real TDX/SNP/SGX verifiers are built by internal/attest (Verifiers,
// NewVerifier) on top of internal/verify.
type EvidenceVerifier interface {
	VerifyEvidence(ctx context.Context, ev *tee.Evidence) (*tee.Verified, error)
}

// Check names used in CheckError, one per verification step.
const (
	CheckParse       = "parse"
	CheckPublicKey   = "public-key"
	CheckSignature   = "self-signature"
	CheckValidity    = "validity"
	CheckExtract     = "extract-evidence"
	CheckEvidence    = "evidence"
	CheckBinding     = "report-data-binding"
	CheckPlatform    = "platform"
	CheckDebug       = "debug"
	CheckMeasurement = "measurement"
	CheckSigner      = "signer"
	CheckFreshness   = "freshness"
	CheckReplay      = "replay"
)

// ErrRejected is wrapped by every CheckError.
var ErrRejected = errors.New("RA-TLS certificate rejected")

// CheckError says which verification step refused a certificate.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("RA-TLS certificate rejected by check %q: %v", e.Check, e.Err)
}
func (e *CheckError) Unwrap() []error { return []error{ErrRejected, e.Err} }

func reject(check string, format string, args ...any) error {
	return &CheckError{Check: check, Err: fmt.Errorf(format, args...)}
}

// Policy is what an accepted certificate must satisfy beyond valid evidence.
type Policy struct {
	// Platforms accepted; empty accepts any platform that has a verifier.
	Platforms []string
	// Measurements and Signers accepted (any of); empty accepts any.
	Measurements, Signers [][32]byte
	// AllowDebug accepts TEEs in debug mode (insecure).
	AllowDebug bool
	// MaxAge > 0 requires the evidence to be at most this old.
	MaxAge time.Duration
	// AllowNoTimestamp accepts evidence without any time (Gramine-format
	// certificates on real hardware) despite MaxAge.
	AllowNoTimestamp bool
	// MaxSkew tolerates evidence from the future; default 1 minute.
	MaxSkew time.Duration
}

// Result is an accepted certificate's attested facts.
type Result struct {
	Platform string
	Status   string
	Insecure bool
	Debug    bool
	// Measurement and Signer of the application; nil when the evidence
	// binds none (Gramine-format certificate on real hardware).
	Measurement, Signer []byte
	// IssuedAt is when the evidence was produced; zero if unknown.
	IssuedAt time.Time
	// Source is "tcg-dice" or "legacy".
	Source string
	// PubkeyHash is SHA-256 of the certificate's SubjectPublicKeyInfo.
	PubkeyHash [32]byte
	Verified   *tee.Verified
}

// MeasurementHex and SignerHex are for logs ("" when unknown).
func (r *Result) MeasurementHex() string { return hex.EncodeToString(r.Measurement) }
func (r *Result) SignerHex() string      { return hex.EncodeToString(r.Signer) }

// Verifier verifies RA-TLS certificates.
type Verifier struct {
	// Verifiers by platform name (tee.PlatformTDX, ...).
	Verifiers map[string]EvidenceVerifier
	Policy    Policy
	// Replay, when set, refuses a public key seen before within its window.
	Replay *ReplayCache
	Now    func() time.Time
	Logger *slog.Logger
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) log() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return slog.Default()
}

// Extracted is a parsed RA-TLS certificate before evidence verification.
type Extracted struct {
	Cert     *x509.Certificate
	Evidence *tee.Evidence
	Source   string
	Tagged   *TaggedEvidence // nil for legacy
}

// ParseCertificate parses an RA-TLS certificate and extracts its evidence,
// preferring the tagged-evidence extension (if present but invalid, it
// fails) over the legacy one. It checks nothing but structure.
func ParseCertificate(der []byte) (*Extracted, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, reject(CheckParse, "%v", err)
	}
	var tagged, legacy []byte
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(OIDTaggedEvidence):
			if tagged != nil {
				return nil, reject(CheckExtract, "%w: two tagged-evidence extensions", ErrExtension)
			}
			tagged = e.Value
		case e.Id.Equal(OIDLegacyQuote):
			if legacy != nil {
				return nil, reject(CheckExtract, "%w: two legacy quote extensions", ErrExtension)
			}
			legacy = e.Value
		}
	}
	x := &Extracted{Cert: cert}
	switch {
	case tagged != nil:
		te, err := ParseTaggedEvidence(tagged)
		if err != nil {
			return nil, reject(CheckExtract, "%w", err)
		}
		x.Source, x.Tagged = "tcg-dice", te
		x.Evidence = &tee.Evidence{Platform: te.Platform, Blob: te.Blob, Aux: te.Aux, Claims: te.NacreClaims}
	case legacy != nil:
		if len(legacy) == 0 || len(legacy) > maxExtension {
			return nil, reject(CheckExtract, "%w: legacy quote extension of %d bytes", ErrExtension, len(legacy))
		}
		p, err := platformOfBlob(legacy)
		if err != nil {
			return nil, reject(CheckExtract, "%w", err)
		}
		x.Source = "legacy"
		x.Evidence = &tee.Evidence{Platform: p, Blob: legacy}
	default:
		return nil, reject(CheckExtract, "%w", ErrNoEvidence)
	}
	return x, nil
}

// VerifyCertificate runs every check on an RA-TLS certificate (DER) and
// returns the attested facts, or a *CheckError naming the failed check. When
// the evidence itself verified but the policy, freshness or replay check
// failed, the (refused) result is returned alongside the error.
func (v *Verifier) VerifyCertificate(ctx context.Context, der []byte) (*Result, error) {
	x, err := ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	cert := x.Cert
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || (pub.Curve != elliptic.P384() && pub.Curve != elliptic.P256()) {
		return nil, reject(CheckPublicKey, "only ECDSA P-384 or P-256 keys are accepted, got %T", cert.PublicKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, reject(CheckSignature, "certificate is not self-signed by its own key: %v", err)
	}
	now := v.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, reject(CheckValidity, "now (%s) is outside the certificate's validity %s..%s", now.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	spki := cert.RawSubjectPublicKeyInfo
	res := &Result{Platform: x.Evidence.Platform, Source: x.Source, PubkeyHash: sha256.Sum256(spki)}

	// Structural binding first: cheap, and no verifier sees unbound evidence.
	var claims *tee.Claims
	if x.Tagged != nil {
		if err := x.Tagged.checkPubkeyHash(spki); err != nil {
			return nil, reject(CheckBinding, "%v", err)
		}
		if len(x.Tagged.Unknown) > 0 {
			v.log().Warn("RA-TLS: ignoring unknown claims", "claims", x.Tagged.Unknown)
		}
		if x.Tagged.NacreClaims != nil {
			c, err := tee.ParseClaims(x.Tagged.NacreClaims)
			if err != nil {
				return nil, reject(CheckBinding, "%v", err)
			}
			var want [64]byte
			copy(want[:], res.PubkeyHash[:])
			if c.UserData != want {
				return nil, reject(CheckBinding, "nacre-claims user data is not SHA-256 of the certificate's public key")
			}
			claims = &c
		}
	}

	if !slices.Contains(v.Policy.Platforms, res.Platform) && len(v.Policy.Platforms) > 0 {
		return nil, reject(CheckPlatform, "platform %q is not accepted (policy allows %v)", res.Platform, v.Policy.Platforms)
	}
	ev := v.Verifiers[res.Platform]
	if ev == nil {
		hint := ""
		if res.Platform == tee.PlatformSim {
			hint = " (simulated evidence is only accepted when the simulator's key is explicitly trusted)"
		}
		return nil, reject(CheckEvidence, "no verifier configured for %s evidence%s", res.Platform, hint)
	}
	ver, err := ev.VerifyEvidence(ctx, x.Evidence)
	if err != nil {
		return nil, &CheckError{Check: CheckEvidence, Err: err}
	}
	if ver.Platform != "" && ver.Platform != res.Platform {
		return nil, reject(CheckEvidence, "verifier says %s evidence, certificate says %s", ver.Platform, res.Platform)
	}
	res.Verified, res.Status, res.Insecure, res.Debug = ver, ver.Status, ver.Insecure, ver.Debug

	// The platform-signed report data must bind the public key.
	switch {
	case claims != nil:
		if claims.ReportData() != ver.ReportData {
			return nil, reject(CheckBinding, "report data signed by the platform is not SHA-512 of nacre-claims")
		}
		res.Measurement, res.Signer, res.IssuedAt = bytes.Clone(claims.Measurement[:]), bytes.Clone(claims.Signer[:]), claims.IssuedAt
	case x.Tagged != nil:
		if gramineReportData(x.Tagged.ClaimsRaw) != ver.ReportData {
			return nil, reject(CheckBinding, "report data signed by the platform is not SHA-256 of the claims (Gramine binding)")
		}
	default:
		if gramineReportData(spki) != ver.ReportData {
			return nil, reject(CheckBinding, "report data signed by the platform is not SHA-256 of the certificate's public key (Gramine legacy binding)")
		}
	}
	// A platform that reports the application identity itself (simulator)
	// must agree with the claims.
	if ver.Measurement != nil {
		if res.Measurement != nil && (!bytes.Equal(res.Measurement, ver.Measurement) || !bytes.Equal(res.Signer, ver.Signer)) {
			return nil, reject(CheckBinding, "measurement/signer in the claims differ from those reported by the platform")
		}
		res.Measurement, res.Signer = ver.Measurement, ver.Signer
	}
	if !ver.Timestamp.IsZero() && res.IssuedAt.IsZero() {
		res.IssuedAt = ver.Timestamp
	}

	// From here on the evidence is genuine: refusals return the result too,
	// so that audit logs can say who was refused.
	if err := v.Policy.Check(res, now); err != nil {
		return res, err
	}
	if v.Replay != nil {
		if err := v.Replay.Use(res.PubkeyHash, now); err != nil {
			return res, &CheckError{Check: CheckReplay, Err: err}
		}
	}
	if res.Insecure {
		v.log().Warn("INSECURE: accepted RA-TLS certificate with simulated evidence", "status", res.Status)
	}
	return res, nil
}

// Check applies the policy to an otherwise verified result.
func (p *Policy) Check(res *Result, now time.Time) error {
	if len(p.Platforms) > 0 && !slices.Contains(p.Platforms, res.Platform) {
		return reject(CheckPlatform, "platform %q is not accepted (policy allows %v)", res.Platform, p.Platforms)
	}
	if res.Debug && !p.AllowDebug {
		return reject(CheckDebug, "the TEE runs in debug mode (its memory is readable by the host); debug is forbidden by policy")
	}
	if err := matchID(CheckMeasurement, res.Measurement, p.Measurements); err != nil {
		return err
	}
	if err := matchID(CheckSigner, res.Signer, p.Signers); err != nil {
		return err
	}
	if p.MaxAge > 0 {
		skew := p.MaxSkew
		if skew == 0 {
			skew = time.Minute
		}
		switch {
		case res.IssuedAt.IsZero():
			if !p.AllowNoTimestamp {
				return reject(CheckFreshness, "evidence carries no timestamp (Gramine-format certificate), so its freshness cannot be checked")
			}
		case res.IssuedAt.After(now.Add(skew)):
			return reject(CheckFreshness, "evidence issued at %s, in the future (now %s)", res.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		case now.Sub(res.IssuedAt) > p.MaxAge:
			return reject(CheckFreshness, "evidence issued at %s is %s old, more than the allowed %s", res.IssuedAt.UTC().Format(time.RFC3339), now.Sub(res.IssuedAt).Round(time.Second), p.MaxAge)
		}
	}
	return nil
}

func matchID(check string, got []byte, want [][32]byte) error {
	if len(want) == 0 {
		return nil
	}
	if got == nil {
		return reject(check, "the evidence binds no %s (Gramine-format certificate without nacre claims), but the policy requires one", check)
	}
	for _, w := range want {
		if bytes.Equal(got, w[:]) {
			return nil
		}
	}
	return reject(check, "%s %x is not among the %d accepted", check, got, len(want))
}
