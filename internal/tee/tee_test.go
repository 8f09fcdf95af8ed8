package tee_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/tee/teetest"
)

var quiet = slog.New(slog.DiscardHandler)

var fixedNow = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

func testClaims() tee.Claims {
	var c tee.Claims
	for i := range c.Measurement {
		c.Measurement[i] = byte(i)
		c.Signer[i] = byte(0xa0 + i)
	}
	c.UserData[0] = 0x55
	c.IssuedAt = fixedNow
	return c
}

func TestClaimsKnownAnswer(t *testing.T) {
	c := testClaims()
	enc := c.Encode()
	if len(enc) != tee.ClaimsSize || tee.ClaimsSize != 152 {
		t.Fatalf("encoded size %d / ClaimsSize %d, want 152", len(enc), tee.ClaimsSize)
	}
	if !bytes.HasPrefix(enc, []byte("nacre-claims-v1\n\x00\x01\x02")) {
		t.Fatalf("prefix %x", enc[:20])
	}
	if got := hex.EncodeToString(enc[144:]); got != hex.EncodeToString([]byte{0, 0, 0, 0, 0x6b, 0x04, 0xef, 0xa0}) {
		t.Errorf("issued_at bytes %s", got)
	}
	if rd := c.ReportData(); rd != sha512.Sum512(enc) {
		t.Error("report data is not SHA-512 of the encoding")
	}
	back, err := tee.ParseClaims(enc)
	if err != nil || back != c {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for n := 0; n < len(enc); n++ {
		if _, err := tee.ParseClaims(enc[:n]); !errors.Is(err, tee.ErrClaims) {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	bad := bytes.Clone(enc)
	bad[0] ^= 1
	if _, err := tee.ParseClaims(bad); !errors.Is(err, tee.ErrClaims) {
		t.Fatal("bad magic accepted")
	}
	if _, err := tee.CheckBinding(enc, c.ReportData()); err != nil {
		t.Fatal(err)
	}
	rd := c.ReportData()
	rd[63] ^= 1
	if _, err := tee.CheckBinding(enc, rd); !errors.Is(err, tee.ErrClaims) {
		t.Fatal("wrong report data accepted")
	}
}

func newSim(t *testing.T, debug bool) *tee.Sim {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := testClaims()
	s, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: c.Measurement, Signer: c.Signer, SVN: 3, Debug: debug, Now: func() time.Time { return fixedNow }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimRoundTrip(t *testing.T) {
	s := newSim(t, true)
	c := testClaims()
	ev, err := tee.Attest(context.Background(), s, c)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Platform != "sim" || ev.ReportData != c.ReportData() || !bytes.Equal(ev.Claims, c.Encode()) {
		t.Fatalf("evidence %+v", ev)
	}
	if !bytes.HasPrefix(ev.Blob, []byte("NACRE-SIM-INSECURE\x00\x01\x00\x01")) {
		t.Fatalf("blob header %q", ev.Blob[:24])
	}
	v := &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{s.PublicKey()}, Logger: quiet}
	got, err := v.VerifyEvidence(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "INSECURE-SIMULATED" || !got.Insecure || !got.Debug || got.ReportData != ev.ReportData ||
		!bytes.Equal(got.Measurement, c.Measurement[:]) || !got.Timestamp.Equal(fixedNow) || got.Details["svn"] != "3" {
		t.Fatalf("verified %+v", got)
	}
	// Not trusted unless told so.
	if _, err := (&tee.SimVerifier{}).VerifyEvidence(context.Background(), ev); !errors.Is(err, tee.ErrUntrustedSimKey) {
		t.Fatalf("untrusted key: %v", err)
	}
	other := newSim(t, false)
	if _, err := (&tee.SimVerifier{Trusted: []*ecdsa.PublicKey{other.PublicKey()}}).VerifyEvidence(context.Background(), ev); !errors.Is(err, tee.ErrUntrustedSimKey) {
		t.Fatalf("other key: %v", err)
	}
	// Any flipped bit in the signed part breaks the signature.
	for _, off := range []int{20, 30, 40, 100, 161} {
		bad := *ev
		bad.Blob = bytes.Clone(ev.Blob)
		bad.Blob[off] ^= 0x80
		if _, err := v.VerifyEvidence(context.Background(), &bad); err == nil {
			t.Errorf("tampered byte %d accepted", off)
		}
	}
	for n := 0; n < len(ev.Blob); n++ {
		if _, err := tee.ParseSimReport(ev.Blob[:n]); err == nil {
			t.Fatalf("prefix %d parsed", n)
		}
	}
	if _, err := tee.ParseSimReport(append(bytes.Clone(ev.Blob), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestSimKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "nacre", "sim-tee-key.pem")
	k1, err := tee.LoadOrCreateSimKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", st, err)
	}
	k2, err := tee.LoadOrCreateSimKey(path, nil)
	if err != nil || !k1.Equal(k2) {
		t.Fatal("second load gave a different key")
	}
	pub, err := tee.LoadSimPublicKey(path)
	if err != nil || !pub.Equal(&k1.PublicKey) {
		t.Fatal("public key from private key file")
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "INSECURE") {
		t.Error("key file does not say it is insecure")
	}
}

func TestConfigfsTDX(t *testing.T) {
	root := "/fake/tsm/report"
	f := teetest.NewFakeTSM(root, "tdx_guest")
	f.BusyReads = 2
	var sleeps []time.Duration
	tsm := &tee.TSM{Root: root, FS: f, Sleep: func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }}
	p, err := tee.DetectWith(tee.Options{TSM: tsm})
	if err != nil || p.Name() != "tdx" {
		t.Fatalf("detect: %v %v", p, err)
	}
	var rd [64]byte
	rd[0], rd[63] = 1, 2
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Blob, append([]byte("FAKE-tdx_guest:"), rd[:]...)) || len(ev.Aux) != 0 || ev.Platform != "tdx" {
		t.Fatalf("evidence %q", ev.Blob)
	}
	if len(sleeps) != 2 || sleeps[1] != 2*sleeps[0] {
		t.Errorf("backoff %v", sleeps)
	}
	if f.Live() != 0 || f.Created != 4 { // 1 probe + 3 attempts
		t.Errorf("entries live %d created %d", f.Live(), f.Created)
	}
	// A concurrent writer is detected through the generation and retried.
	f.RaceOnce = true
	if _, err := p.Evidence(context.Background(), rd); err != nil {
		t.Fatalf("race retry: %v", err)
	}
	// Empty outblob is an error, not empty evidence.
	f.EmptyOutblob = true
	if _, err := p.Evidence(context.Background(), rd); !errors.Is(err, tee.ErrEmptyOutblob) {
		t.Fatalf("empty outblob: %v", err)
	}
	f.EmptyOutblob = false
	f.BusyReads = 100
	if _, err := p.Evidence(context.Background(), rd); err == nil || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("endless EBUSY: %v", err)
	}
}

func TestConfigfsSNP(t *testing.T) {
	root := "/fake/tsm/report"
	f := teetest.NewFakeTSM(root, "sev_guest")
	p, err := tee.DetectWith(tee.Options{TSM: &tee.TSM{Root: root, FS: f}})
	if err != nil || p.Name() != "snp" {
		t.Fatalf("detect: %v %v", p, err)
	}
	var rd [64]byte
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil || !strings.HasPrefix(string(ev.Aux), "FAKE-CERTS:") {
		t.Fatalf("snp: %v %q", err, ev.Aux)
	}
	// Asking for tdx on an SNP guest fails with a clear message.
	tdx, _ := tee.New("tdx", tee.Options{TSM: &tee.TSM{Root: root, FS: f}})
	if _, err := tdx.Evidence(context.Background(), rd); err == nil || !strings.Contains(err.Error(), "sev_guest") {
		t.Fatalf("provider mismatch: %v", err)
	}
}

func TestDetectNone(t *testing.T) {
	p, err := tee.Detect(filepath.Join(t.TempDir(), "no", "tsm"))
	if err != nil || p.Name() != "none" {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := p.Evidence(context.Background(), [64]byte{}); !errors.Is(err, tee.ErrNoTEE) {
		t.Fatal(err)
	}
	f := teetest.NewFakeTSM("/r", "arm_cca_guest")
	p, err = tee.DetectWith(tee.Options{TSM: &tee.TSM{Root: "/r", FS: f}, Logger: quiet})
	if err != nil || p.Name() != "none" {
		t.Fatalf("unsupported provider: %v %v", p, err)
	}
	if _, err := tee.New("sgx", tee.Options{}); err == nil {
		t.Fatal("unknown platform accepted")
	}
}

func TestRealTSMOnTempDir(t *testing.T) {
	// Against the real OSFS, a plain directory lacks the kernel's attribute
	// files: the client must fail cleanly and remove its entry.
	root := t.TempDir()
	tsm := &tee.TSM{Root: root}
	if _, err := tsm.Report(context.Background(), make([]byte, 64)); err == nil {
		t.Fatal("report from a plain directory succeeded")
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 0 {
		t.Fatalf("entry left behind: %v", ents)
	}
}

func TestRTMR(t *testing.T) {
	dir := t.TempDir()
	c := testClaims()
	d := tee.RTMREvent(c.Measurement, c.Signer)
	if err := tee.ExtendRTMR(dir, 3, d); !errors.Is(err, tee.ErrNoRTMR) {
		t.Fatalf("missing sysfs: %v", err)
	}
	p := filepath.Join(dir, "rtmr3:sha384")
	os.WriteFile(p, nil, 0o600)
	if err := tee.ExtendRTMR(dir, 3, d); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, d[:]) {
		t.Fatalf("wrote %x", got)
	}
	if err := tee.ExtendRTMR(dir, 4, d); err == nil {
		t.Fatal("rtmr4 accepted")
	}
}

func TestDerivedKey(t *testing.T) {
	if _, err := tee.DerivedKey("tdx", "", [32]byte{}, "default"); !errors.Is(err, tee.ErrNoDerivedKey) || !strings.Contains(err.Error(), "TDX") {
		t.Fatalf("tdx: %v", err)
	}
	if _, err := tee.DerivedKey("snp", filepath.Join(t.TempDir(), "sev-guest"), [32]byte{}, "default"); err == nil || !strings.Contains(err.Error(), "sev-guest") {
		t.Fatalf("snp without device: %v", err)
	}
	a, _ := tee.SealingKey([32]byte{1}, [32]byte{2}, "default")
	b, _ := tee.SealingKey([32]byte{1}, [32]byte{3}, "default")
	c, _ := tee.SealingKey([32]byte{1}, [32]byte{2}, "other")
	if a == b || a == c || a == ([16]byte{}) {
		t.Fatal("sealing key does not depend on measurement and name")
	}
}
