package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

// FuzzVerifyEvidence feeds arbitrary bytes through the registry with the
// sim and RA-TLS recognizers: never a panic, never an acceptance of input
// that was not produced by the trusted simulator, and every refusal names
// a check.
func FuzzVerifyEvidence(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: [32]byte{1}, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	ev, _ := s.Evidence(context.Background(), [64]byte{2})
	c, err := ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: s, Measurement: [32]byte{1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ev.Blob)
	f.Add(c.DER)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	if q, err := os.ReadFile(samples + "tdx/dcap-qvl/tdx_quote"); err == nil {
		f.Add(q)
	}
	// The trusted key signs only the seeds; anything else accepted would
	// be a forgery (or an unchanged seed).
	ctx := WithSimKeys(context.Background(), s.PublicKey())
	seeds := map[string]bool{string(ev.Blob): true, string(c.DER): true, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})): true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := verify.VerifyEvidence(ctx, raw, &verify.Options{Logger: quiet})
		if err == nil {
			if !seeds[string(raw)] && (res.Platform == PlatformSim) {
				// Re-encodings of a seed (e.g. PEM whitespace) are the only
				// acceptable sim inputs: their DER must be a seed's.
				if der, derr := certDER(raw, false); derr != nil || !seeds[string(der)] {
					t.Fatalf("accepted %d bytes that are no seed", len(raw))
				}
			}
			return
		}
		if verify.FailedCheck(err) == "" && !errors.Is(err, verify.ErrUnrecognized) {
			t.Fatalf("refusal without a check name: %v", err)
		}
	})
}
