package attest

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/nacre-tee/nacre/internal/attestfs"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// Check names recorded for nacre quotes (the content of a shield's
// /dev/attestation/quote, docs/spec/dev-attestation.md §4.1).
const (
	CheckQuoteParse   = "nacre-quote.parse"
	CheckQuoteBinding = "nacre-quote.claims-binding"
)

// MeasUserReportData names the application's 64 bytes of user report data
// in the Result of a nacre quote, so that they are printed and a policy's
// [measurements] table can pin them (a verifier's nonce, a key hash).
const MeasUserReportData = "USER_REPORT_DATA"

func looksLikeNacreQuote(raw []byte) bool {
	return bytes.HasPrefix(raw, []byte(attestfs.QuoteMagic))
}

// VerifyNacreQuote verifies a nacre quote in verify's terms:
// nacre-quote.parse (attestfs.ParseQuote), then the platform evidence it
// wraps with that platform's own checks (quote.*, snp.*, sim.*; simulated
// evidence needs WithSimKeys), then nacre-quote.claims-binding: the
// platform-signed report data must be SHA-512 of the quote's claims, and a
// simulated report's own identity must equal the claims'. The Result is the
// platform evidence's, with the manifest measurement and signer from the
// claims as verify.MeasManifest / MeasManifestSigner and the user report
// data as MeasUserReportData; ReportData stays the platform-signed value.
func VerifyNacreQuote(ctx context.Context, raw []byte, opts *verify.Options) (*verify.Result, error) {
	res := &verify.Result{}
	ev, err := attestfs.ParseQuote(raw)
	if err != nil {
		return res, res.Fail(CheckQuoteParse, fmt.Errorf("%w: %w", verify.ErrMalformed, err))
	}
	claims, err := tee.ParseClaims(ev.Claims)
	if err != nil { // ParseQuote checked them; kept for safety
		return res, res.Fail(CheckQuoteParse, fmt.Errorf("%w: %w", verify.ErrMalformed, err))
	}
	res.Platform = verify.Platform(ev.Platform)
	parseDetail := fmt.Sprintf("%s evidence, %d bytes", ev.Platform, len(ev.Blob))
	if len(ev.Aux) > 0 {
		parseDetail += fmt.Sprintf(" + %d-byte certificate table", len(ev.Aux))
	}
	parseDetail += ", claims issued at " + claims.IssuedAt.Format(time.RFC3339)
	if opts == nil {
		opts = &verify.Options{}
	}
	inner, verr := verifyBlob(ctx, ev, opts)
	if inner != nil {
		checks := inner.Checks
		inner.Checks = nil
		res = inner
		res.Pass(CheckQuoteParse, "%s", parseDetail)
		res.Checks = append(res.Checks, checks...)
	} else {
		res.Pass(CheckQuoteParse, "%s", parseDetail)
	}
	if verr != nil {
		return res, verr
	}
	if len(res.ReportData) != 64 {
		return res, res.Fail(CheckQuoteBinding, fmt.Errorf("%w: the %s evidence reports %d bytes of report data, want 64", verify.ErrMalformed, ev.Platform, len(res.ReportData)))
	}
	if _, err := tee.CheckBinding(ev.Claims, [64]byte(res.ReportData)); err != nil {
		return res, res.Fail(CheckQuoteBinding, fmt.Errorf("%w: %w", verify.ErrMismatch, err))
	}
	// The simulator reports an identity of its own; it must be the claims'.
	for _, m := range []struct {
		name string
		want []byte
	}{{verify.MeasManifest, claims.Measurement[:]}, {verify.MeasManifestSigner, claims.Signer[:]}} {
		if got, ok := res.Measurement(m.name); ok && !bytes.Equal(got, m.want) {
			return res, res.Fail(CheckQuoteBinding, fmt.Errorf("%w: the evidence reports %s %x, the claims %x", verify.ErrMismatch, m.name, got, m.want))
		} else if !ok {
			res.Measurements = append(res.Measurements, verify.Measurement{Name: m.name, Value: bytes.Clone(m.want)})
		}
	}
	res.Measurements = append(res.Measurements, verify.Measurement{Name: MeasUserReportData, Value: bytes.Clone(claims.UserData[:])})
	res.Pass(CheckQuoteBinding, "platform-signed report data = SHA-512(claims): measurement %x…, signer %x…, user report data %x…, issued at %s",
		claims.Measurement[:4], claims.Signer[:4], claims.UserData[:8], claims.IssuedAt.Format(time.RFC3339))
	res.Accepted = true
	return res, nil
}
