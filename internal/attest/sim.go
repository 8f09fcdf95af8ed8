package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

type simKeysKey struct{}

// WithSimKeys returns a context under which VerifyEvidence accepts
// simulated-TEE evidence (alone or inside an RA-TLS certificate) signed by
// one of keys. Simulated evidence proves nothing: trust a key only in tests.
// verify.Options has no notion of the simulator, so the trust travels with
// the call instead of living in a global.
func WithSimKeys(ctx context.Context, keys ...*ecdsa.PublicKey) context.Context {
	all := append(slices.Clone(simKeys(ctx)), keys...)
	return context.WithValue(ctx, simKeysKey{}, all)
}

func simKeys(ctx context.Context) []*ecdsa.PublicKey {
	k, _ := ctx.Value(simKeysKey{}).([]*ecdsa.PublicKey)
	return k
}

func looksLikeSim(raw []byte) bool { return bytes.HasPrefix(raw, []byte(tee.SimMagic)) }

// VerifySim verifies a simulated-TEE report (docs/spec/attestation.md §4)
// in verify's terms: checks sim.parse, sim.key (signed by a key trusted
// through WithSimKeys) and sim.signature. The result reports the manifest
// measurement and signer as verify.MeasManifest / MeasManifestSigner, and
// Details is the *tee.SimReport. Its status is always INSECURE-SIMULATED.
func VerifySim(ctx context.Context, raw []byte, opts *verify.Options) (*verify.Result, error) {
	res := &verify.Result{Platform: PlatformSim}
	r, err := tee.ParseSimReport(raw)
	if err != nil {
		return res, res.Fail("sim.parse", fmt.Errorf("%w: %w", verify.ErrMalformed, err))
	}
	res.Details = r
	res.Version = int(r.Version)
	res.Measurements = []verify.Measurement{
		{Name: verify.MeasManifest, Value: bytes.Clone(r.Measurement[:])},
		{Name: verify.MeasManifestSigner, Value: bytes.Clone(r.Signer[:])},
	}
	res.ReportData = bytes.Clone(r.ReportData[:])
	res.ProductID, res.SVN = r.ProductID, uint32(r.SVN)
	res.Debug = r.Flags&tee.SimFlagDebug != 0
	res.Pass("sim.parse", "simulated report v%d issued %s (INSECURE: whoever holds the simulator key can forge it)", r.Version, r.Timestamp.Format(time.RFC3339))

	keys := simKeys(ctx)
	var logger *slog.Logger
	if opts != nil {
		logger = opts.Logger
	}
	sv := &tee.SimVerifier{Trusted: keys, Logger: logger}
	if _, err := sv.VerifyEvidence(ctx, &tee.Evidence{Platform: tee.PlatformSim, Blob: raw}); err != nil {
		if errors.Is(err, tee.ErrUntrustedSimKey) {
			return res, res.Fail("sim.key", fmt.Errorf("%w: %w (nacre verify: --trust-sim-key)", verify.ErrUntrustedRoot, err))
		}
		return res, res.Fail("sim.signature", fmt.Errorf("%w: %w", verify.ErrBadSignature, err))
	}
	res.Pass("sim.key", "key id %x… is explicitly trusted (%d trusted key(s))", r.KeyID[:8], len(keys))
	res.Pass("sim.signature", "ECDSA P-256 signature over bytes 0..193 verifies")
	res.Accepted = true
	return res, nil
}
