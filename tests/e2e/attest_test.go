package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ratlsManifest is a shield whose entrypoint is the nacre binary itself,
// running nacre ratls as Gramine's gramine-ratls runs inside an enclave.
const ratlsManifest = `libos.entrypoint = "/nacre"
loader.log_level = "error"
loader.argv = ["nacre", "ratls", "/tmp/crt", "/tmp/key", "--", "/usr/bin/cat", "{{ show }}"]
loader.env.LD_LIBRARY_PATH = "/lib"
fs.mounts = [
  { path = "/nacre", uri = "file:nacre" },
  { path = "/lib", uri = "file:{{ gramine.runtimedir() }}" },
  { path = "/usr/bin/cat", uri = "file:/usr/bin/cat" },
  { type = "tmpfs", path = "/tmp" },
]
sgx.debug = false
sgx.trusted_files = [
  "file:nacre",
  "file:/usr/bin/cat",
  "file:{{ gramine.runtimedir() }}/",
]
`

// simKeyEnv points nacre's simulated TEE at a key of this test only (the
// default is ~/.config/nacre/sim-tee-key.pem) and returns the key's path.
func simKeyEnv(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(workRoot, "xdg-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", cfg)
	return filepath.Join(cfg, "nacre", "sim-tee-key.pem")
}

// signedRATLSManifest renders and signs ratlsManifest, with cat showing
// show, in a fresh directory and returns the signed manifest and its
// measurement and signer.
func signedRATLSManifest(t *testing.T, name, show string) (manifest, meas, signer string) {
	t.Helper()
	dir := filepath.Join(workRoot, "ratls-"+strings.ReplaceAll(t.Name(), "/", "_"))
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command("cp", nacreBin, filepath.Join(dir, "nacre")).CombinedOutput(); err != nil {
		t.Fatalf("copy nacre: %v\n%s", err, out)
	}
	tmpl := filepath.Join(dir, name+".manifest.template")
	if err := os.WriteFile(tmpl, []byte(ratlsManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, name+".manifest")
	for _, args := range [][]string{
		{"manifest", "-Dshow=" + show, tmpl, m},
		{"sign", "--key", keyFile, "--manifest", m, "--output", m + ".sgx"},
	} {
		if r := nacre(t, runOpts{dir: dir}, args...); r.code != 0 {
			t.Fatalf("nacre %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	r := nacre(t, runOpts{dir: dir}, "inspect", "--json", m+".sgx")
	var info struct{ Measurement, Signer string }
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || len(info.Measurement) != 64 {
		t.Fatalf("nacre inspect --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return m + ".sgx", info.Measurement, info.Signer
}

type verifyOut struct {
	Platform     string            `json:"platform"`
	Measurements map[string]string `json:"measurements"`
	Accepted     bool              `json:"accepted"`
	FailedCheck  string            `json:"failed_check"`
	Status       string            `json:"status"`
}

func nacreVerify(t *testing.T, file string, args ...string) (verifyOut, result) {
	t.Helper()
	r := nacre(t, runOpts{}, append(append([]string{"verify", "--json"}, args...), file)...)
	var v verifyOut
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("nacre verify %s: exit %d, output is not JSON: %v\n%s%s", file, r.code, err, r.stdout, r.stderr)
	}
	return v, r
}

// TestRATLSInShield: nacre ratls as the shield's entrypoint takes its
// evidence from /dev/attestation; the certificate verifies with the
// simulator's key and binds the signed manifest's measurement and signer.
func TestRATLSInShield(t *testing.T) {
	simKey := simKeyEnv(t)
	manifest, meas, signer := signedRATLSManifest(t, "ratls", "/tmp/crt")
	r := nacre(t, runOpts{dir: filepath.Dir(manifest)}, "run", "--platform", "sim", manifest)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("nacre run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	crt := filepath.Join(t.TempDir(), "crt.pem")
	os.WriteFile(crt, []byte(r.stdout), 0o644)

	v, vr := nacreVerify(t, crt, "--trust-sim-key", simKey)
	if vr.code != 0 || !v.Accepted || v.Platform != "sim" || v.Status != "INSECURE-SIMULATED" {
		t.Fatalf("nacre verify: exit %d %+v\n%s", vr.code, v, vr.stderr)
	}
	if v.Measurements["MANIFEST_MEASUREMENT"] != meas || v.Measurements["MANIFEST_SIGNER"] != signer {
		t.Fatalf("certificate binds %v, want measurement %s signer %s", v.Measurements, meas, signer)
	}
	// Without trusting the simulator, or with another one, it is refused.
	if v, vr := nacreVerify(t, crt); vr.code != 1 || v.FailedCheck != "sim.key" {
		t.Fatalf("untrusted simulator: exit %d %+v", vr.code, v)
	}
	// A policy pinning another measurement refuses it.
	pol := filepath.Join(t.TempDir(), "policy.toml")
	os.WriteFile(pol, []byte(fmt.Sprintf("manifest_measurement = [%q]\n", strings.Repeat("0", 64))), 0o644)
	if v, vr := nacreVerify(t, crt, "--trust-sim-key", simKey, "--policy", pol); vr.code != 1 || v.FailedCheck != "policy.manifest_measurement" {
		t.Fatalf("wrong measurement policy: exit %d %+v", vr.code, v)
	}
}

// TestDevAttestationQuoteVerifies: the nacre quote an application reads
// from /dev/attestation/quote is recognized by nacre verify, which prints
// the manifest identity and the user report data and rejects tampering.
func TestDevAttestationQuoteVerifies(t *testing.T) {
	simKey := simKeyEnv(t)
	manifest, meas, signer := signedRATLSManifest(t, "quote", "/dev/attestation/quote")
	dir := filepath.Dir(manifest)
	cmd := exec.Command(nacreBin, "run", "--platform", "sim", manifest)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.HasPrefix(stdout.String(), "nacre-quote-v1\n") {
		t.Fatalf("nacre run: %v\nstdout: %q\nstderr:\n%s", err, stdout.Bytes()[:min(64, stdout.Len())], stderr.String())
	}
	quote := filepath.Join(t.TempDir(), "quote.bin")
	os.WriteFile(quote, stdout.Bytes(), 0o644)

	v, vr := nacreVerify(t, quote, "--trust-sim-key", simKey)
	if vr.code != 0 || !v.Accepted {
		t.Fatalf("nacre verify: exit %d %+v\n%s", vr.code, v, vr.stderr)
	}
	urd := v.Measurements["USER_REPORT_DATA"]
	// nacre ratls wrote SHA-256 of its key, zero-padded, before exec'ing cat:
	// the same process, so the quote cat reads is over that value.
	if v.Measurements["MANIFEST_MEASUREMENT"] != meas || v.Measurements["MANIFEST_SIGNER"] != signer ||
		len(urd) != 128 || urd[64:] != strings.Repeat("0", 64) || urd[:64] == strings.Repeat("0", 64) {
		t.Fatalf("quote binds %v, want measurement %s signer %s and a key hash", v.Measurements, meas, signer)
	}
	text := nacre(t, runOpts{}, "verify", "--trust-sim-key", simKey, quote)
	mustContain(t, "nacre verify output", text.stdout, "MANIFEST_MEASUREMENT:", meas, "USER_REPORT_DATA:", urd, "nacre-quote.claims-binding", "verdict: ACCEPTED")

	// Tampering with the claims (here the user report data) breaks the binding.
	bad := bytes.Clone(stdout.Bytes())
	bad[15+1+16+64] ^= 1
	os.WriteFile(quote, bad, 0o644)
	if v, vr := nacreVerify(t, quote, "--trust-sim-key", simKey); vr.code != 1 || v.FailedCheck != "nacre-quote.claims-binding" {
		t.Fatalf("tampered claims: exit %d %+v", vr.code, v)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSecretProvisioningExample runs examples/ra-tls-secret-prov: a key
// released only after attestation decrypts the input and encrypts the
// result; a wrong measurement and a replayed certificate are refused.
func TestSecretProvisioningExample(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("/usr/bin/python3 not installed (run scripts/install-test-deps.sh)")
	}
	simKeyEnv(t)
	dir := example(t, "ra-tls-secret-prov")
	out := makeIn(t, dir, fmt.Sprintf("PORT=%d", freePort(t)), "check")
	mustContain(t, "make check output", out,
		"check: provisioned and decrypted: count=10 sum=55 sum_of_squares=385",
		"check=replay", "verdict=refuse check=measurement", "[ Success ]")
	// The owner's plaintext never reached the host in the clear.
	enc, err := os.ReadFile(filepath.Join(dir, "enc", "input.txt"))
	if err != nil || bytes.Contains(enc, []byte("1 2 3 4 5")) {
		t.Fatalf("enc/input.txt: %v (plaintext visible: %v)", err, bytes.Contains(enc, []byte("1 2 3 4 5")))
	}
}

// TestPyTorchExample runs examples/pytorch: confidential inference with a
// model and input decrypted inside the shield by a key released after
// attestation. CI runs the numpy variant; the PyTorch one runs where
// python3-torch is installed.
func TestPyTorchExample(t *testing.T) {
	for _, tc := range []struct{ target, module, pkg string }{
		{"check", "numpy", "python3-numpy"},
		{"check-torch", "torch", "python3-torch (opt-in, not installed by scripts/install-test-deps.sh)"},
	} {
		t.Run(tc.module, func(t *testing.T) {
			if err := exec.Command("/usr/bin/python3", "-c", "import "+tc.module).Run(); err != nil {
				t.Skipf("/usr/bin/python3 cannot import %s: install %s", tc.module, tc.pkg)
			}
			simKeyEnv(t)
			dir := example(t, "pytorch")
			out := makeIn(t, dir, fmt.Sprintf("PORT=%d", freePort(t)), tc.target)
			mustContain(t, "make "+tc.target+" output", out, "tomato: red", "snow: white", "[ Success ]")
		})
	}
}
