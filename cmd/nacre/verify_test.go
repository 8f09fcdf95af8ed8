package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const evidenceDir = "../../internal/verify/testdata/"

func runVerifyTest(t *testing.T, f *verifyFlags, file string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	err := runVerify(t.Context(), &out, f, file)
	if err == nil {
		return out.String(), 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		t.Fatalf("error without exit status: %v", err)
	}
	return out.String() + ee.Error(), ee.code
}

func TestVerifyCommand(t *testing.T) {
	for _, k := range []string{"RA_TLS_ALLOW_HW_CONFIG_NEEDED", "RA_TLS_ALLOW_SW_HARDENING_NEEDED", "RA_TLS_MRENCLAVE", "RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE"} {
		t.Setenv(k, "")
	}
	sgx := evidenceDir + "sgx/dcap-qvl/sgx_quote"
	sgxCol := []string{evidenceDir + "sgx/dcap-qvl/sgx_quote_collateral.json"}

	// Default policy: ConfigurationAndSWHardeningNeeded is rejected (exit 1).
	out, code := runVerifyTest(t, &verifyFlags{collateral: sgxCol, at: "2025-07-01T00:00:00Z"}, sgx)
	if code != 1 || !strings.Contains(out, "verdict: REJECTED (policy.tcb_status)") ||
		!strings.Contains(out, "INTEL-SA-00289, INTEL-SA-00615") || !strings.Contains(out, "MRENCLAVE:") {
		t.Errorf("default policy: exit %d\n%s", code, out)
	}
	// Allowed through Gramine's variables.
	t.Setenv("RA_TLS_ALLOW_HW_CONFIG_NEEDED", "1")
	t.Setenv("RA_TLS_ALLOW_SW_HARDENING_NEEDED", "1")
	out, code = runVerifyTest(t, &verifyFlags{collateral: sgxCol, at: "2025-07-01"}, sgx)
	if code != 0 || !strings.Contains(out, "verdict: ACCEPTED") {
		t.Errorf("allowed: exit %d\n%s", code, out)
	}
	// JSON output, policy file with a wrong measurement.
	pol := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(pol, []byte("mrenclave = [\"815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\"]\nallow_hw_config_needed = true\nallow_sw_hardening_needed = true\n"), 0o600)
	out, code = runVerifyTest(t, &verifyFlags{collateral: sgxCol, at: "2025-07-01", policyFile: pol, jsonOut: true}, sgx)
	var j verifyJSON
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &j); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if code != 1 || j.FailedCheck != "policy.mrenclave" || j.Accepted || j.Measurements["MRENCLAVE"] != "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" {
		t.Errorf("JSON wrong measurement: exit %d %+v", code, j)
	}
	// Expired CRL: clock past the PCK CRL's nextUpdate.
	out, code = runVerifyTest(t, &verifyFlags{collateral: sgxCol, at: "2025-07-19T10:30:00Z"}, sgx)
	if code != 1 || !strings.Contains(out, "REJECTED (crl.pck)") {
		t.Errorf("expired CRL: exit %d\n%s", code, out)
	}
	// Outdated TDX v5: no matching TCB level.
	out, code = runVerifyTest(t, &verifyFlags{collateral: []string{evidenceDir + "tdx/dcap-qvl/tdx_quote_outdated_collateral.json"}, at: "2026-03-01"}, evidenceDir+"tdx/dcap-qvl/tdx_quote_outdated")
	if code != 1 || !strings.Contains(out, "REJECTED (tcb.level)") {
		t.Errorf("outdated: exit %d\n%s", code, out)
	}
	// SNP with debug allowed by the env variable.
	t.Setenv("RA_TLS_ALLOW_DEBUG_ENCLAVE_INSECURE", "1")
	out, code = runVerifyTest(t, &verifyFlags{collateral: []string{evidenceDir + "snp/go-sev-guest/vcek.testcer"}, at: "2022-09-24T01:00:00Z"}, evidenceDir+"snp/go-sev-guest/attestation.bin")
	if code != 0 || !strings.Contains(out, "platform:") || !strings.Contains(out, "snp") {
		t.Errorf("SNP: exit %d\n%s", code, out)
	}

	// Usage errors and unreadable input: exit 2.
	for name, c := range map[string]struct {
		f    *verifyFlags
		file string
	}{
		"missing file":       {&verifyFlags{}, filepath.Join(t.TempDir(), "nope")},
		"bad --at":           {&verifyFlags{at: "yesterday"}, sgx},
		"bad collateral":     {&verifyFlags{collateral: []string{pol}}, sgx},
		"unrecognized input": {&verifyFlags{}, pol},
		"missing policy":     {&verifyFlags{policyFile: pol + ".missing"}, sgx},
	} {
		if out, code := runVerifyTest(t, c.f, c.file); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", name, code, out)
		}
	}
}
