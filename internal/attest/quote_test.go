package attest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/attestfs"
	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// nacreQuote makes what a shield's /dev/attestation/quote holds: evidence
// of s over claims, encoded by attestfs.
func nacreQuote(t testing.TB, s *tee.Sim, c tee.Claims) []byte {
	t.Helper()
	ev, err := tee.Attest(context.Background(), s, c)
	if err != nil {
		t.Fatal(err)
	}
	q, err := attestfs.EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestNacreQuoteRecognizer(t *testing.T) {
	s := newSim(t, 0xaa) // the simulator reports measurement aa.., signer 5e..
	claims := tee.Claims{Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}, UserData: [64]byte{7, 8, 9}, IssuedAt: time.Unix(1_800_000_000, 0)}
	q := nacreQuote(t, s, claims)
	opts := &verify.Options{Logger: quiet}

	if _, err := verify.VerifyEvidence(context.Background(), q, opts); verify.FailedCheck(err) != "sim.key" || !errors.Is(err, tee.ErrUntrustedSimKey) {
		t.Fatalf("untrusted simulator: %v", err)
	}
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	res, err := verify.VerifyEvidence(ctx, q, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{CheckQuoteParse, "sim.parse", "sim.key", "sim.signature", CheckQuoteBinding}
	if len(res.Checks) != len(want) {
		t.Fatalf("checks %+v", res.Checks)
	}
	for i, c := range res.Checks {
		if c.Name != want[i] || !c.OK {
			t.Fatalf("check %d: %+v, want %s ok", i, c, want[i])
		}
	}
	m, _ := res.Measurement(verify.MeasManifest)
	sg, _ := res.Measurement(verify.MeasManifestSigner)
	u, _ := res.Measurement(MeasUserReportData)
	rd := claims.ReportData()
	if res.Platform != PlatformSim || !res.Accepted || m[0] != 0xaa || sg[0] != 0x5e || !bytes.Equal(u, claims.UserData[:]) || !bytes.Equal(res.ReportData, rd[:]) {
		t.Fatalf("result %+v", res)
	}
	// Policy rules apply to the claims' identity and user data.
	if err := (&policy.Policy{ManifestMeasurement: []policy.Hex{make([]byte, 32)}}).Evaluate(res); verify.FailedCheck(err) != "policy.manifest_measurement" {
		t.Fatalf("manifest rule: %v", err)
	}

	// Claims that are not what the platform signed: another user data.
	ev, _ := attestfs.ParseQuote(q)
	other := claims
	other.UserData[0] ^= 1
	ev.Claims = other.Encode()
	swapped, err := attestfs.EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.VerifyEvidence(ctx, swapped, opts); verify.FailedCheck(err) != CheckQuoteBinding || !errors.Is(err, verify.ErrMismatch) {
		t.Fatalf("swapped claims: %v", err)
	}
	// Claims bound correctly but naming another identity than the
	// simulator's report: refused.
	liar := claims
	liar.Measurement[1] = 1
	if _, err := verify.VerifyEvidence(ctx, nacreQuote(t, s, liar), opts); verify.FailedCheck(err) != CheckQuoteBinding {
		t.Fatalf("identity mismatch: %v", err)
	}
	// Every truncated prefix and a trailing byte are refused with a check.
	for n := len(attestfs.QuoteMagic); n < len(q); n++ {
		if _, err := verify.VerifyEvidence(ctx, q[:n], opts); verify.FailedCheck(err) == "" {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	if _, err := verify.VerifyEvidence(ctx, append(bytes.Clone(q), 0), opts); verify.FailedCheck(err) != CheckQuoteParse {
		t.Fatalf("trailing byte: %v", err)
	}
	// Every byte flipped (after the magic) is refused.
	for i := len(attestfs.QuoteMagic); i < len(q); i++ {
		bad := bytes.Clone(q)
		bad[i] ^= 0x04
		if _, err := verify.VerifyEvidence(ctx, bad, opts); err == nil {
			t.Fatalf("flip in byte %d accepted", i)
		}
	}
}

func FuzzVerifyNacreQuote(f *testing.F) {
	s := newSim(f, 0xaa)
	claims := tee.Claims{Measurement: [32]byte{0xaa}, Signer: [32]byte{0x5e}, IssuedAt: time.Unix(1_800_000_000, 0)}
	seed := nacreQuote(f, s, claims)
	f.Add(seed)
	f.Add([]byte(attestfs.QuoteMagic))
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := VerifyNacreQuote(ctx, raw, &verify.Options{Logger: quiet})
		if err == nil {
			if !bytes.Equal(raw, seed) || !res.Accepted {
				t.Fatalf("accepted %d bytes that are not the seed", len(raw))
			}
			return
		}
		if verify.FailedCheck(err) == "" {
			t.Fatalf("refusal without a check name: %v", err)
		}
	})
}
