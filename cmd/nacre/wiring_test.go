package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/secretprov"
	"github.com/nacre-tee/nacre/internal/tee"
)

// simCert runs `nacre ratls --platform sim` and returns the certificate
// path and the simulator key (the key a verifier must be told to trust).
func simCert(t *testing.T, dir string, extra ...string) (string, string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	crt, key := filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	cmd := newRATLSCmd()
	cmd.SetArgs(append(append([]string{"--platform", "sim", "--measurement", strings.Repeat("ab", 32), "--signer", strings.Repeat("cd", 32)}, extra...), crt, key))
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	return crt, filepath.Join(dir, "cfg", "nacre", "sim-tee-key.pem")
}

func TestVerifyRATLSCertificate(t *testing.T) {
	clearRATLSEnv(t)
	dir := t.TempDir()
	crt, simKey := simCert(t, dir)

	out, code := runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}}, crt)
	for _, want := range []string{"verdict: ACCEPTED", "status:", "INSECURE-SIMULATED",
		"MANIFEST_MEASUREMENT:  " + strings.Repeat("ab", 32), "MANIFEST_SIGNER:       " + strings.Repeat("cd", 32),
		"[ok]  ratls.report-data-binding  platform-signed report data = SHA-512(nacre-claims)", "[ok]  sim.signature"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("trusted sim certificate: exit %d, missing %q\n%s", code, want, out)
		}
	}
	// Without the key, or with another one: rejected, the check is named.
	out, code = runVerifyTest(t, &verifyFlags{}, crt)
	if code != 1 || !strings.Contains(out, "verdict: REJECTED (sim.key)") {
		t.Fatalf("untrusted: exit %d\n%s", code, out)
	}
	// DER input, JSON output, and a manifest rule in the policy.
	der := filepath.Join(dir, "crt.der")
	blk, _ := pem.Decode(mustRead(t, crt))
	os.WriteFile(der, blk.Bytes, 0o600)
	pol := filepath.Join(dir, "p.toml")
	os.WriteFile(pol, []byte(fmt.Sprintf("platforms = [\"sim\"]\nmanifest_signer = [%q]\n", strings.Repeat("cd", 32))), 0o600)
	out, code = runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}, jsonOut: true, policyFile: pol}, der)
	var j verifyJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || j.Status != tee.SimStatus || !j.Accepted || j.Platform != "sim" {
		t.Fatalf("JSON: exit %d %v\n%s", code, err, out)
	}
	os.WriteFile(pol, []byte("manifest_measurement = [\""+strings.Repeat("00", 32)+"\"]\n"), 0o600)
	if out, code = runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}, policyFile: pol}, der); code != 1 || !strings.Contains(out, "REJECTED (policy.manifest_measurement)") {
		t.Fatalf("manifest rule: exit %d\n%s", code, out)
	}
	// A flipped bit anywhere in the certificate is rejected with the failed
	// check named (a sample of positions keeps the test fast).
	good := blk.Bytes
	checks := map[string]bool{}
	for i := 0; i < len(good); i += 97 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x04
		os.WriteFile(der, bad, 0o600)
		out, code := runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}}, der)
		m := regexp.MustCompile(`verdict: REJECTED \(([a-z._-]+)\)`).FindStringSubmatch(out)
		if code == 0 || (code == 1 && m == nil) {
			t.Fatalf("bit flip at byte %d: exit %d\n%s", i, code, out)
		}
		if m != nil {
			checks[m[1]] = true
		}
	}
	if !checks["ratls.self-signature"] {
		t.Errorf("no flip was caught by ratls.self-signature: %v", checks)
	}
	// A raw simulated report (not in a certificate) is evidence too.
	k, err := tee.LoadSimKey(simKey)
	if err != nil {
		t.Fatal(err)
	}
	sim, _ := tee.NewSim(tee.SimOptions{Key: k, Measurement: [32]byte{1}, Logger: slog.New(slog.DiscardHandler)})
	ev, err := sim.Evidence(context.Background(), [64]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "sim.bin")
	os.WriteFile(blob, ev.Blob, 0o600)
	if out, code := runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}}, blob); code != 0 || !strings.Contains(out, "INSECURE-SIMULATED") || !strings.Contains(out, "MANIFEST_MEASUREMENT:  01") {
		t.Fatalf("sim blob: exit %d\n%s", code, out)
	}
	if out, code := runVerifyTest(t, &verifyFlags{}, blob); code != 1 || !strings.Contains(out, "REJECTED (sim.key)") {
		t.Fatalf("untrusted sim blob: exit %d\n%s", code, out)
	}
	// Unreadable trust key: exit 2.
	if out, code := runVerifyTest(t, &verifyFlags{simKeys: []string{blob}}, blob); code != 2 {
		t.Fatalf("bad --trust-sim-key: exit %d\n%s", code, out)
	}
	// Only some of Gramine's four identity variables: usage error.
	t.Setenv("RA_TLS_MRENCLAVE", strings.Repeat("00", 32))
	if out, code := runVerifyTest(t, &verifyFlags{simKeys: []string{simKey}}, crt); code != 2 || !strings.Contains(out, "RA_TLS_ISV_SVN") {
		t.Fatalf("incomplete RA_TLS_* environment: exit %d\n%s", code, out)
	}
}

func clearRATLSEnv(t *testing.T) {
	for _, k := range []string{"RA_TLS_MRENCLAVE", "RA_TLS_MRSIGNER", "RA_TLS_ISV_PROD_ID", "RA_TLS_ISV_SVN", "RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE",
		"RA_TLS_ALLOW_OUTDATED_TCB_INSECURE", "RA_TLS_ALLOW_HW_CONFIG_NEEDED", "RA_TLS_ALLOW_SW_HARDENING_NEEDED"} {
		t.Setenv(k, "")
	}
}

// lockedBuffer collects the server's log lines from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverPKI writes a CA and a 127.0.0.1 server certificate and key (PEM),
// valid from 2020 so that clients with a pinned clock accept them.
func serverPKI(t *testing.T, dir string) (ca, crt, key string) {
	t.Helper()
	now := time.Now()
	since := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: since, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: since, NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	ca, crt, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return ca, crt, key
}

var listenAddr = regexp.MustCompile(`secret-provisioning server listening.*addr=([0-9.:]+)`)

// startSecretServer runs `nacre secret-server` with the real-evidence
// verifiers (TDX collateral from the verify samples, clock pinned by --at)
// until the test ends, and returns its address and log.
func startSecretServer(t *testing.T, dir, policyText, at string) (string, *lockedBuffer) {
	t.Helper()
	_, crt, key := serverPKI(t, dir)
	pol := filepath.Join(dir, "policy.toml")
	os.WriteFile(pol, []byte(policyText), 0o600)
	logs := &lockedBuffer{}
	cmd := newSecretServerCmd()
	cmd.SetErr(logs)
	cmd.SetArgs([]string{"--policy", pol, "--cert", crt, "--key", key, "--listen", "127.0.0.1:0",
		"--collateral", evidenceDir + "tdx/dcap-qvl/tdx_quote_collateral.json", "--at", at})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("secret-server: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listenAddr.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs
		}
		select {
		case err := <-done:
			t.Fatalf("secret-server exited: %v\n%s", err, logs)
		default:
		}
	}
	t.Fatalf("secret-server did not start:\n%s", logs)
	return "", nil
}

// waitAudit waits for the server's audit line: the client may see the
// refusal before the server has logged it.
func waitAudit(t *testing.T, logs *lockedBuffer) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if l := logs.String(); strings.Contains(l, "msg=audit") {
			return l
		}
	}
	t.Fatalf("no audit line:\n%s", logs)
	return ""
}

func TestSecretServerRealVerifiers(t *testing.T) {
	clearRATLSEnv(t)
	const at = "2025-07-01T00:00:00Z"
	pinnedAt, _ := time.Parse(time.RFC3339, at)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	meas, signer := [32]byte{0xab}, [32]byte{0xcd}
	sim, err := tee.NewSim(tee.SimOptions{Key: k, Measurement: meas, Signer: signer, Now: func() time.Time { return pinnedAt }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const rules = `
[secrets.wrap]
hex = "000102030405060708090a0b0c0d0e0f"

[[rule]]
name = "tdx-only"
platforms = [%s]
secret = "wrap"
`
	provision := func(t *testing.T, addr, dir string) error {
		t.Helper()
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(mustRead(t, filepath.Join(dir, "ca.pem")))
		c := &secretprov.Client{Servers: []string{addr}, RootCAs: roots, KeyName: "default", Rounds: 1,
			Now: func() time.Time { return pinnedAt }, Logger: slog.New(slog.DiscardHandler)}
		_, err := c.Provision(context.Background(), sim, meas, signer)
		return err
	}
	// The policy does not trust the simulator: no verifier for sim evidence.
	dir := t.TempDir()
	addr, logs := startSecretServer(t, dir, fmt.Sprintf(rules, `"tdx"`), at)
	if err := provision(t, addr, dir); err == nil {
		t.Fatal("sim client provisioned by a server that does not trust the simulator")
	}
	if l := waitAudit(t, logs); !strings.Contains(l, "verdict=refuse") || !strings.Contains(l, "check=evidence") || !strings.Contains(l, "no verifier configured for sim") {
		t.Fatalf("audit:\n%s", l)
	}
	// The simulator is trusted, but the only rule wants TDX.
	dir = t.TempDir()
	pub, _ := x509.MarshalPKIXPublicKey(sim.PublicKey())
	os.WriteFile(filepath.Join(dir, "sim.pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	addr, logs = startSecretServer(t, dir, "trusted_sim_keys = [\"sim.pub.pem\"]\n"+fmt.Sprintf(rules, `"tdx"`), at)
	if err := provision(t, addr, dir); err == nil {
		t.Fatal("sim client provisioned by a TDX-only rule")
	}
	if l := waitAudit(t, logs); !strings.Contains(l, "verdict=refuse") || !strings.Contains(l, "check=platform") {
		t.Fatalf("audit:\n%s", l)
	}
	// Allowed by the rule: the whole command path provisions the secret.
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "sim.pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	addr, logs = startSecretServer(t, dir, "trusted_sim_keys = [\"sim.pub.pem\"]\n"+fmt.Sprintf(rules, `"sim"`), at)
	if err := provision(t, addr, dir); err != nil {
		t.Fatalf("allowed sim client: %v\n%s", err, logs)
	}
	// Bad flags are reported before listening.
	for _, args := range [][]string{{"--at", "yesterday"}, {"--collateral", filepath.Join(dir, "missing")}, {"--evidence-policy", filepath.Join(dir, "missing.toml")}} {
		cmd := newSecretServerCmd()
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"--policy", filepath.Join(dir, "policy.toml"), "--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server.key"), "--listen", "127.0.0.1:0"}, args...))
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestEvidenceFlagsRealTDX(t *testing.T) {
	clearRATLSEnv(t)
	raw := mustRead(t, evidenceDir+"tdx/dcap-qvl/tdx_quote")
	f := &evidenceFlags{collateral: []string{evidenceDir + "tdx/dcap-qvl/tdx_quote_collateral.json"}, at: "2025-07-01"}
	vs, now, err := f.evidenceVerifiers(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if now == nil || now().Format(time.DateOnly) != "2025-07-01" {
		t.Fatalf("clock not pinned")
	}
	got, err := vs["tdx"].VerifyEvidence(context.Background(), &tee.Evidence{Platform: "tdx", Blob: raw})
	if err != nil || got.Status != "UpToDate" {
		t.Fatalf("%+v %v", got, err)
	}
	// An evidence policy pinning another MRTD refuses it.
	pol := filepath.Join(t.TempDir(), "tdx.toml")
	os.WriteFile(pol, []byte("mrtd = [\""+strings.Repeat("00", 48)+"\"]\n"), 0o600)
	f.policyFile = pol
	if vs, _, err = f.evidenceVerifiers(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := vs["tdx"].VerifyEvidence(context.Background(), &tee.Evidence{Platform: "tdx", Blob: raw}); err == nil || !strings.Contains(err.Error(), "policy.mrtd") {
		t.Fatalf("MRTD policy: %v", err)
	}
}
