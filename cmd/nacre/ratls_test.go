package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

func TestRATLSCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	meas := strings.Repeat("ab", 32)
	t.Setenv(envMeasurement, meas)
	crt, key := filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	cmd := newRATLSCmd()
	cmd.SetArgs([]string{"--platform", "sim", crt, key})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("certificate file %q", b)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v %v", st, err)
	}
	simKey, err := tee.LoadSimKey(filepath.Join(dir, "cfg", "nacre", "sim-tee-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	v := &ratls.Verifier{Verifiers: map[string]ratls.EvidenceVerifier{"sim": &tee.SimVerifier{Trusted: []*ecdsa.PublicKey{&simKey.PublicKey}}}}
	res, err := v.VerifyCertificate(context.Background(), blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(res.Measurement) != meas {
		t.Fatalf("measurement %x", res.Measurement)
	}

	// DER output.
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--platform", "sim", "-D", crt, key})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(crt); len(b) == 0 || b[0] != 0x30 {
		t.Fatalf("DER certificate starts with %x", b[:1])
	}
	if _, err := v.VerifyCertificate(context.Background(), mustRead(t, crt)); err != nil {
		t.Fatal(err)
	}
	// A command must follow --.
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--platform", "sim", crt, key, "extra"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--") {
		t.Fatalf("command without --: %v", err)
	}
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--platform", "none", crt, key})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no TEE") {
		t.Fatalf("none: %v", err)
	}
	cmd = newRATLSCmd()
	cmd.SetArgs([]string{"--platform", "sim", "--measurement", "xyz", crt, key})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "64 hex") {
		t.Fatalf("bad measurement: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
