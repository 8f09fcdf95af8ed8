package attestfs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
)

var (
	testMeas   = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	testSigner = [32]byte{0: 0xa0, 31: 0x5a}
	testTime   = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	quietLog   = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// newSim returns a simulated TEE with a deterministic key in a temp dir.
func newSim(t testing.TB) *tee.Sim {
	t.Helper()
	sim, err := tee.NewSim(tee.SimOptions{
		KeyPath:     filepath.Join(t.TempDir(), "sim-tee-key.pem"),
		Measurement: testMeas,
		Signer:      testSigner,
		Now:         func() time.Time { return testTime },
		Logger:      quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// verifyQuote checks a nacre quote the way a remote verifier does and
// returns its claims.
func verifyQuote(t testing.TB, sim *tee.Sim, q []byte) tee.Claims {
	t.Helper()
	ev, err := ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	v := &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{sim.PublicKey()}, Logger: quietLog}
	ver, err := v.VerifyEvidence(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tee.CheckBinding(ev.Claims, ver.ReportData)
	if err != nil {
		t.Fatal(err)
	}
	if c.Measurement != testMeas || c.Signer != testSigner {
		t.Fatalf("claims bind measurement %x signer %x", c.Measurement, c.Signer)
	}
	if !bytes.Equal(ver.Measurement, testMeas[:]) {
		t.Fatalf("simulated report says measurement %x", ver.Measurement)
	}
	return c
}

func simEvidence(t testing.TB, sim *tee.Sim, ud [64]byte) *tee.Evidence {
	t.Helper()
	ev, err := tee.Attest(context.Background(), sim, tee.Claims{Measurement: testMeas, Signer: testSigner, UserData: ud, IssuedAt: testTime})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestQuoteRoundTrip(t *testing.T) {
	sim := newSim(t)
	ud := [64]byte{0: 'h', 1: 'i', 63: 0xff}
	ev := simEvidence(t, sim, ud)
	q, err := EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyQuote(t, sim, q)
	if c.UserData != ud || !c.IssuedAt.Equal(testTime) {
		t.Fatalf("claims %+v", c)
	}
	// With aux (SNP shape).
	ev.Platform, ev.Aux = tee.PlatformSNP, []byte("certificate table")
	q, err = EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	if got.Platform != tee.PlatformSNP || !bytes.Equal(got.Aux, ev.Aux) || !bytes.Equal(got.Blob, ev.Blob) || got.ReportData != ev.ReportData {
		t.Fatalf("round trip: %+v", got)
	}
}

// TestQuoteKnownAnswer pins the layout of docs/spec/dev-attestation.md.
func TestQuoteKnownAnswer(t *testing.T) {
	c := tee.Claims{Measurement: testMeas, Signer: testSigner, UserData: [64]byte{0: 0xee}, IssuedAt: time.Unix(0x01020304, 0)}
	ev := &tee.Evidence{Platform: tee.PlatformTDX, Blob: []byte{0xb1, 0xb2, 0xb3}, Claims: c.Encode()}
	q, err := EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString([]byte("nacre-quote-v1\n")) + "01" +
		hex.EncodeToString([]byte("nacre-claims-v1\n")) + hex.EncodeToString(testMeas[:]) + hex.EncodeToString(testSigner[:]) +
		"ee" + strings.Repeat("00", 63) + "0000000001020304" +
		"00000003" + "b1b2b3" + "00000000"
	if got := hex.EncodeToString(q); got != want {
		t.Fatalf("quote\n got %s\nwant %s", got, want)
	}
	if len(q) != 176+3 {
		t.Fatalf("length %d", len(q))
	}
}

func TestQuoteTruncated(t *testing.T) {
	ev := simEvidence(t, newSim(t), [64]byte{1})
	ev.Aux = []byte{9, 9}
	q, err := EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(q) {
		if _, err := ParseQuote(q[:i]); !errors.Is(err, ErrQuote) {
			t.Fatalf("prefix of %d/%d bytes: err %v", i, len(q), err)
		}
	}
	if _, err := ParseQuote(append(bytes.Clone(q), 0)); !errors.Is(err, ErrQuote) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

func TestQuoteRejects(t *testing.T) {
	ev := simEvidence(t, newSim(t), [64]byte{})
	q, err := EncodeQuote(ev)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(q); f(b); return b }
	for name, b := range map[string][]byte{
		"magic":        mut(func(b []byte) { b[0] = 'N' }),
		"platform 0":   mut(func(b []byte) { b[15] = 0 }),
		"platform 4":   mut(func(b []byte) { b[15] = 4 }),
		"claims magic": mut(func(b []byte) { b[16] ^= 1 }),
		"blob huge":    mut(func(b []byte) { b[168] = 0xff }),
		"blob empty":   append(append(bytes.Clone(q[:168]), 0, 0, 0, 0), 0, 0, 0, 0),
		"aux huge":     append(bytes.Clone(q[:len(q)-4]), 0, 1, 0, 1),
	} {
		if _, err := ParseQuote(b); !errors.Is(err, ErrQuote) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	for name, ev := range map[string]*tee.Evidence{
		"no claims":    {Platform: tee.PlatformSim, Blob: []byte{1}},
		"no blob":      {Platform: tee.PlatformSim, Claims: ev.Claims},
		"platform":     {Platform: tee.PlatformSGX, Blob: []byte{1}, Claims: ev.Claims},
		"blob too big": {Platform: tee.PlatformTDX, Blob: make([]byte, MaxQuoteBlob+1), Claims: ev.Claims},
	} {
		if _, err := EncodeQuote(ev); !errors.Is(err, ErrQuote) {
			t.Errorf("encode %s: err %v", name, err)
		}
	}
}

func FuzzParseQuote(f *testing.F) {
	ev := simEvidence(f, newSim(f), [64]byte{3})
	q, _ := EncodeQuote(ev)
	f.Add(q)
	ev.Platform, ev.Aux = tee.PlatformSNP, []byte{1, 2, 3}
	q2, _ := EncodeQuote(ev)
	f.Add(q2)
	f.Add([]byte(QuoteMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseQuote(b)
		if err != nil {
			if !errors.Is(err, ErrQuote) {
				t.Fatalf("error does not wrap ErrQuote: %v", err)
			}
			return
		}
		// Whatever parses re-encodes to the same bytes.
		again, err := EncodeQuote(ev)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encode: %v\n got %x\nwant %x", err, again, b)
		}
	})
}
