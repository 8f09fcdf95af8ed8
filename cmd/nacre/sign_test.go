package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/measure"
)

// TestGenKeySignInspect drives gen-key, sign and inspect in process.
func TestGenKeySignInspect(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	if err := genKey(defaultKeyPath(), false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "cfg", "nacre", "enclave-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if err := genKey(defaultKeyPath(), false); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Errorf("overwrite without -f: %v", err)
	}
	if err := genKey(defaultKeyPath(), true); err != nil {
		t.Errorf("overwrite with -f: %v", err)
	}

	os.MkdirAll(filepath.Join(dir, "app", "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "run"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "lib", "x.so"), []byte("x"), 0o644)
	in := filepath.Join(dir, "app.manifest")
	os.WriteFile(in, []byte(`libos.entrypoint = "/app/run"
fs.mounts = [{ path = "/app", uri = "file:/app" }]
sgx.trusted_files = ["file:/app/"]
sgx.isvsvn = 9
`), 0o644)
	out := filepath.Join(dir, "out", "app.manifest.signed")

	var hooked string
	saved := signHook
	defer func() { signHook = saved }()
	signHook = func(m *manifest.Manifest, o string) (*[32]byte, error) {
		hooked = o
		return &[32]byte{1, 2, 3}, nil
	}
	err = runSign(signFlags{key: defaultKeyPath(), in: in, out: out, date: "0000-00-00", chroot: dir})
	if err != nil {
		t.Fatal(err)
	}
	if hooked != out {
		t.Errorf("signHook called with %q", hooked)
	}
	info, err := inspectFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.ISVSVN != 9 || info.Date != "0000-00-00" || info.TrustedFiles != 2 || info.ChunkIndexSHA256 == nil || !strings.HasPrefix(*info.ChunkIndexSHA256, "010203") {
		t.Errorf("inspect: %+v", info)
	}
	var buf bytes.Buffer
	if err := printInspect(&buf, info, true); err != nil {
		t.Fatal(err)
	}
	var back inspectInfo
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Measurement != info.Measurement || len(back.Measurement) != 64 {
		t.Errorf("json: %v %s", err, buf.Bytes())
	}

	data, _ := os.ReadFile(out)
	data[3] ^= 0x20
	os.WriteFile(out, data, 0o644)
	if _, err := inspectFile(out); !errors.Is(err, measure.ErrMeasurementMismatch) {
		t.Errorf("tampered file: %v", err)
	}
	if _, err := inspectFile(in); !errors.Is(err, measure.ErrNotSigned) {
		t.Errorf("unsigned file: %v", err)
	}
}
