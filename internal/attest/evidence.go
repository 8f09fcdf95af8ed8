package attest

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// PlatformSim is the verify.Platform of simulated-TEE evidence.
const PlatformSim verify.Platform = tee.PlatformSim

// ErrPlatform: evidence labelled for one platform is something else, or a
// platform has no verifier here.
var ErrPlatform = errors.New("evidence platform not supported or mislabelled")

// Options configure the real-evidence (TDX, SNP, SGX) verifiers.
type Options struct {
	// Collateral for Intel quotes and SNP reports (verify.LoadCollateral).
	// An SNP certificate table travelling with the evidence is used as well.
	Collateral *verify.Collateral
	// Now is the verification clock (default time.Now); pin it in tests to
	// a time inside the collateral's validity windows.
	Now func() time.Time
	// Fetcher, if set, is asked for collateral that Collateral lacks
	// (network; none by default).
	Fetcher verify.Fetcher
	// AllowMissingCollateral records checks whose collateral is absent as
	// skipped (TCB status Unknown) instead of failing.
	AllowMissingCollateral bool
	// Policy decides which TCB statuses and platform measurements (MRTD,
	// RTMRs, SNP MEASUREMENT, MRENCLAVE, ...) are acceptable. nil means
	// PolicyFromEnv(Getenv): strict, with Gramine's RA_TLS_* variables.
	// Its allow_debug is not applied here: debug is decided by the RA-TLS
	// policy (ratls.Policy.AllowDebug, a secret-server rule's allow_debug).
	Policy *policy.Policy
	// Getenv reads the environment when Policy is nil (default os.Getenv).
	Getenv func(string) string
	// TrustedSimKeys, used by NewVerifier only, make simulated (INSECURE)
	// evidence signed by one of them acceptable.
	TrustedSimKeys []*ecdsa.PublicKey
	Logger         *slog.Logger
}

// EvidenceVerifier verifies real TDX, SNP and SGX evidence with
// internal/verify and a policy.Policy; it implements ratls.EvidenceVerifier.
// It is safe for concurrent use.
type EvidenceVerifier struct {
	opts verify.Options
	pol  policy.Policy
}

// NewEvidenceVerifier resolves o (the environment policy when o.Policy is
// nil) and returns the verifier.
func NewEvidenceVerifier(o Options) (*EvidenceVerifier, error) {
	pol := o.Policy
	if pol == nil {
		var err error
		if pol, err = PolicyFromEnv(o.Getenv); err != nil {
			return nil, err
		}
	}
	v := &EvidenceVerifier{
		opts: verify.Options{Now: o.Now, Collateral: o.Collateral, Fetcher: o.Fetcher, AllowMissingCollateral: o.AllowMissingCollateral, Logger: o.Logger},
		pol:  *pol,
	}
	// Debug belongs to the RA-TLS policy (per secret-server rule), not here.
	v.pol.AllowDebug = true
	return v, nil
}

// Verifiers returns the verifier of o for each real platform (tdx, snp,
// sgx), ready for ratls.Verifier.Verifiers or secretprov.Server.Verifiers.
func Verifiers(o Options) (map[string]ratls.EvidenceVerifier, error) {
	v, err := NewEvidenceVerifier(o)
	if err != nil {
		return nil, err
	}
	return map[string]ratls.EvidenceVerifier{tee.PlatformTDX: v, tee.PlatformSNP: v, tee.PlatformSGX: v}, nil
}

// VerifyEvidence implements ratls.EvidenceVerifier.
func (v *EvidenceVerifier) VerifyEvidence(ctx context.Context, ev *tee.Evidence) (*tee.Verified, error) {
	res, err := v.Verify(ctx, ev)
	if err != nil {
		return nil, err
	}
	return ToVerified(res), nil
}

// Verify is VerifyEvidence returning verify's full Result (every check).
// A rejection is a *verify.CheckError naming the check.
func (v *EvidenceVerifier) Verify(ctx context.Context, ev *tee.Evidence) (*verify.Result, error) {
	switch ev.Platform {
	case tee.PlatformTDX, tee.PlatformSNP, tee.PlatformSGX:
	default:
		res := &verify.Result{Platform: verify.Platform(ev.Platform)}
		return res, res.Fail("evidence.platform", fmt.Errorf("%w: %q evidence is not verified here (tdx, snp or sgx)", ErrPlatform, ev.Platform))
	}
	res, err := verifyBlob(ctx, ev, &v.opts)
	if err != nil {
		return res, err
	}
	if err := v.pol.Evaluate(res); err != nil {
		return res, err
	}
	return res, nil
}

// verifyBlob verifies ev's blob as the evidence kind its platform names
// (never by guessing, so a label cannot switch verifiers) and checks that
// the blob really is that platform's evidence.
func verifyBlob(ctx context.Context, ev *tee.Evidence, opts *verify.Options) (*verify.Result, error) {
	var res *verify.Result
	var err error
	switch ev.Platform {
	case tee.PlatformTDX, tee.PlatformSGX:
		res, err = verify.VerifyQuote(ctx, ev.Blob, opts)
	case tee.PlatformSNP:
		raw := ev.Blob
		if len(ev.Aux) > 0 {
			// VerifySNPReport reads a certificate table after the report.
			raw = append(slices.Clip(slices.Clone(ev.Blob)), ev.Aux...)
		}
		res, err = verify.VerifySNPReport(ctx, raw, opts)
	case tee.PlatformSim:
		res, err = VerifySim(ctx, ev.Blob, opts)
	default:
		res = &verify.Result{Platform: verify.Platform(ev.Platform)}
		return res, res.Fail("evidence.platform", fmt.Errorf("%w: no verifier for %q evidence", ErrPlatform, ev.Platform))
	}
	if err != nil {
		return res, err
	}
	if string(res.Platform) != ev.Platform {
		return res, res.Fail("evidence.platform", fmt.Errorf("%w: labelled %s, but the blob is %s evidence", ErrPlatform, ev.Platform, res.Platform))
	}
	return res, nil
}

// Status is the one-word verdict of an accepted result: INSECURE-SIMULATED
// for the simulator, the Intel TCB status, or OK (SNP has no status).
func Status(res *verify.Result) string {
	switch {
	case res.Platform == PlatformSim:
		return tee.SimStatus
	case res.TCBStatus != "":
		return string(res.TCBStatus)
	}
	return "OK"
}

// ToVerified converts an accepted verify.Result into what RA-TLS needs.
// Measurement/Signer are the application identity the platform itself
// reports: MRENCLAVE/MRSIGNER for SGX (Gramine clients), the simulator's
// manifest measurement/signer; nil for TDX and SNP, whose application
// identity comes from nacre's claims bound into the report data.
func ToVerified(res *verify.Result) *tee.Verified {
	v := &tee.Verified{
		Platform: string(res.Platform),
		Status:   Status(res),
		Insecure: res.Platform == PlatformSim,
		Debug:    res.Debug,
		Details:  map[string]string{},
	}
	copy(v.ReportData[:], res.ReportData)
	switch res.Platform {
	case verify.PlatformSGX:
		v.Measurement, _ = res.Measurement(verify.MeasMREnclave)
		v.Signer, _ = res.Measurement(verify.MeasMRSigner)
	case PlatformSim:
		v.Measurement, _ = res.Measurement(verify.MeasManifest)
		v.Signer, _ = res.Measurement(verify.MeasManifestSigner)
		if r, ok := res.Details.(*tee.SimReport); ok {
			v.Timestamp = r.Timestamp
		}
	}
	for _, m := range res.Measurements {
		v.Details[strings.ToLower(m.Name)] = hex.EncodeToString(m.Value)
	}
	if res.TCBStatus != "" {
		v.Details["tcb_status"] = string(res.TCBStatus)
	}
	if len(res.AdvisoryIDs) > 0 {
		v.Details["advisories"] = strings.Join(res.AdvisoryIDs, ",")
	}
	if res.Product != "" {
		v.Details["product"] = res.Product
	}
	v.Details["version"] = fmt.Sprint(res.Version)
	return v
}

// PolicyFromEnv is the policy of a verifier given no explicit one, with
// Gramine's rules: strict (UpToDate TCB only), the RA_TLS_ALLOW_* allowances
// that are exactly "1", and RA_TLS_MRENCLAVE / RA_TLS_MRSIGNER /
// RA_TLS_ISV_PROD_ID / RA_TLS_ISV_SVN when set. Setting only some of those
// four is an error (policy.ErrIncompleteEnv) rather than silently ignored.
func PolicyFromEnv(getenv func(string) string) (*policy.Policy, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p, err := policy.FromEnv(getenv)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, policy.ErrIncompleteEnv) {
		return nil, err
	}
	for _, k := range []string{policy.EnvMREnclave, policy.EnvMRSigner, policy.EnvISVProdID, policy.EnvISVSVN} {
		if getenv(k) != "" {
			return nil, err
		}
	}
	p = &policy.Policy{}
	policy.ApplyEnvAllowances(p, getenv)
	return p, nil
}

// NewVerifier returns an RA-TLS verifier for real evidence (and for
// simulated evidence signed by one of o.TrustedSimKeys, INSECURE) whose
// platform policy comes from o and whose debug rule and platform list
// follow o.Policy (or Gramine's environment variables when it is nil).
func NewVerifier(o Options) (*ratls.Verifier, error) {
	pol := o.Policy
	if pol == nil {
		var err error
		if pol, err = PolicyFromEnv(o.Getenv); err != nil {
			return nil, err
		}
		o.Policy = pol
	}
	vs, err := Verifiers(o)
	if err != nil {
		return nil, err
	}
	if len(o.TrustedSimKeys) > 0 {
		vs[tee.PlatformSim] = &tee.SimVerifier{Trusted: o.TrustedSimKeys, Logger: o.Logger}
	}
	return &ratls.Verifier{
		Verifiers: vs,
		Policy:    ratls.Policy{Platforms: pol.Platforms, AllowDebug: pol.AllowDebug},
		Now:       o.Now,
		Logger:    o.Logger,
	}, nil
}
