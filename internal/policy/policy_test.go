package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nacre-tee/nacre/internal/verify"
)

const evidence = "../verify/testdata/"

// verified returns the genuine SGX v3 sample's result (status
// ConfigurationAndSWHardeningNeeded) or the SNP v2 sample (debug allowed).
func verified(t *testing.T, which string) *verify.Result {
	t.Helper()
	var file, at string
	var col []string
	switch which {
	case "sgx":
		file, at, col = "sgx/dcap-qvl/sgx_quote", "2025-07-01T00:00:00Z", []string{"sgx/dcap-qvl/sgx_quote_collateral.json"}
	case "tdx":
		file, at, col = "tdx/dcap-qvl/tdx_quote", "2025-07-01T00:00:00Z", []string{"tdx/dcap-qvl/tdx_quote_collateral.json"}
	case "snp":
		file, at, col = "snp/go-sev-guest/attestation.bin", "2022-09-24T01:00:00Z", []string{"snp/go-sev-guest/vcek.testcer", "snp/go-sev-guest/milan.testcer"}
	}
	for i := range col {
		col[i] = evidence + col[i]
	}
	c, err := verify.LoadCollateral(col...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(evidence + file)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := time.Parse(time.RFC3339, at)
	res, err := verify.VerifyEvidence(t.Context(), raw, &verify.Options{Now: func() time.Time { return now }, Collateral: c})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hexOf(t *testing.T, s string) Hex {
	var h Hex
	if err := h.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return h
}

const (
	sgxMREnclave = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
	sgxMRSigner  = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
	tdxMRTD      = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
	snpMeas      = "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
)

func TestTCBAllowances(t *testing.T) {
	// SGX sample: ConfigurationAndSWHardeningNeeded needs both HW and SW allowances.
	for _, c := range []struct {
		hw, sw bool
		ok     bool
	}{{false, false, false}, {true, false, false}, {false, true, false}, {true, true, true}} {
		res := verified(t, "sgx")
		p := &Policy{AllowHWConfigNeeded: c.hw, AllowSWHardeningNeeded: c.sw}
		err := p.Evaluate(res)
		if (err == nil) != c.ok {
			t.Errorf("hw=%v sw=%v: %v", c.hw, c.sw, err)
		}
		if err != nil && (verify.FailedCheck(err) != CheckTCBStatus || !errors.Is(err, ErrPolicy) || !errors.Is(err, verify.ErrRejected) || res.Accepted) {
			t.Errorf("hw=%v sw=%v: wrong rejection %v (accepted %v)", c.hw, c.sw, err, res.Accepted)
		}
	}
	table := map[verify.TCBStatus][]Policy{ // first entry rejects, second accepts
		verify.TCBUpToDate:                     {{}, {}},
		verify.TCBSWHardeningNeeded:            {{AllowHWConfigNeeded: true}, {AllowSWHardeningNeeded: true}},
		verify.TCBConfigurationNeeded:          {{AllowSWHardeningNeeded: true}, {AllowHWConfigNeeded: true}},
		verify.TCBOutOfDate:                    {{AllowHWConfigNeeded: true}, {AllowOutdatedTCB: true}},
		verify.TCBOutOfDateConfigurationNeeded: {{AllowOutdatedTCB: true}, {AllowOutdatedTCB: true, AllowHWConfigNeeded: true}},
		verify.TCBUnknown:                      {{AllowOutdatedTCB: true}, {AllowUnknownTCB: true}},
		verify.TCBRevoked:                      {{AllowOutdatedTCB: true, AllowHWConfigNeeded: true, AllowSWHardeningNeeded: true, AllowUnknownTCB: true}},
	}
	for st, ps := range table {
		if err := ps[0].tcbAllowed(st); (err == nil) != (st == verify.TCBUpToDate) {
			t.Errorf("%s with %+v: %v", st, ps[0], err)
		}
		if len(ps) > 1 {
			if err := ps[1].tcbAllowed(st); err != nil {
				t.Errorf("%s with %+v: %v", st, ps[1], err)
			}
		}
	}
}

func TestMeasurements(t *testing.T) {
	allow := Policy{AllowHWConfigNeeded: true, AllowSWHardeningNeeded: true}
	good := allow
	good.MREnclave = []Hex{hexOf(t, sgxMREnclave)}
	good.MRSigner = []Hex{hexOf(t, "00"), hexOf(t, sgxMRSigner)}
	id, svn := uint16(0), uint32(0)
	good.ProductID, good.MinSVN = &id, &svn
	if err := good.Evaluate(verified(t, "sgx")); err != nil {
		t.Fatalf("matching policy: %v", err)
	}

	bad := good
	bad.MREnclave = []Hex{hexOf(t, sgxMRSigner)}
	if err := bad.Evaluate(verified(t, "sgx")); verify.FailedCheck(err) != "policy.mrenclave" {
		t.Errorf("wrong MRENCLAVE: %v", err)
	}
	bad = good
	one := uint32(1)
	bad.MinSVN = &one
	if err := bad.Evaluate(verified(t, "sgx")); verify.FailedCheck(err) != CheckMinSVN {
		t.Errorf("ISVSVN below minimum: %v", err)
	}
	bad = good
	pid := uint16(7)
	bad.ProductID = &pid
	if err := bad.Evaluate(verified(t, "sgx")); verify.FailedCheck(err) != CheckProductID {
		t.Errorf("wrong product: %v", err)
	}
	// TDX: MRTD and a generic measurement; SGX-only rules fail on TDX.
	tdx := Policy{MRTD: []Hex{hexOf(t, tdxMRTD)}, Measurements: map[string][]Hex{"rtmr3": {make(Hex, 48)}}}
	if err := tdx.Evaluate(verified(t, "tdx")); err != nil {
		t.Errorf("TDX policy: %v", err)
	}
	tdx.MREnclave = good.MREnclave
	if err := tdx.Evaluate(verified(t, "tdx")); verify.FailedCheck(err) != "policy.mrenclave" {
		t.Errorf("MRENCLAVE rule on TDX evidence: %v", err)
	}
	// Platform restriction.
	if err := (&Policy{Platforms: []string{"sgx"}}).Evaluate(verified(t, "tdx")); verify.FailedCheck(err) != CheckPlatform {
		t.Errorf("platform: %v", err)
	}
	// nacre manifest measurement: absent from hardware evidence.
	if err := (&Policy{ManifestMeasurement: []Hex{make(Hex, 32)}}).Evaluate(verified(t, "tdx")); verify.FailedCheck(err) != "policy.manifest_measurement" {
		t.Errorf("manifest measurement: %v", err)
	}
}

func TestDebugAndSNP(t *testing.T) {
	p := &Policy{Measurement: []Hex{hexOf(t, snpMeas)}, HostData: []Hex{make(Hex, 32)}}
	if err := p.Evaluate(verified(t, "snp")); verify.FailedCheck(err) != CheckDebug {
		t.Errorf("SNP debug policy: %v", err)
	}
	p.AllowDebug = true
	if err := p.Evaluate(verified(t, "snp")); err != nil {
		t.Errorf("debug allowed: %v", err)
	}
	vmpl := uint32(1)
	p.VMPL = &vmpl
	if err := p.Evaluate(verified(t, "snp")); verify.FailedCheck(err) != CheckVMPL {
		t.Errorf("VMPL 0 report, policy 1: %v", err)
	}
	vmpl = 0
	if err := p.Evaluate(verified(t, "snp")); err != nil {
		t.Errorf("VMPL 0: %v", err)
	}
	if err := p.Evaluate(verified(t, "tdx")); verify.FailedCheck(err) != CheckVMPL {
		t.Errorf("VMPL rule on TDX: %v", err)
	}
	p.VMPL = nil
	p.Measurement = []Hex{make(Hex, 48)}
	if err := p.Evaluate(verified(t, "snp")); verify.FailedCheck(err) != "policy.measurement" {
		t.Errorf("wrong SNP measurement: %v", err)
	}
	if err := (&Policy{}).Evaluate(&verify.Result{}); err == nil {
		t.Error("unverified result accepted")
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	full := map[string]string{EnvMREnclave: sgxMREnclave, EnvMRSigner: "any", EnvISVProdID: "0", EnvISVSVN: "0",
		EnvAllowHWConfigNeeded: "1", EnvAllowSWHardeningNeeded: "1", EnvAllowDebug: "true", EnvAllowOutdatedTCB: "0"}
	p, err := FromEnv(env(full))
	if err != nil {
		t.Fatal(err)
	}
	if p.AllowDebug || p.AllowOutdatedTCB || !p.AllowHWConfigNeeded || !p.AllowSWHardeningNeeded {
		t.Errorf("allowances must count only when exactly 1: %+v", p)
	}
	if len(p.MRSigner) != 0 || len(p.MREnclave) != 1 || p.ProductID == nil || *p.MinSVN != 0 {
		t.Errorf("policy %+v", p)
	}
	if err := p.Evaluate(verified(t, "sgx")); err != nil {
		t.Errorf("env policy: %v", err)
	}
	delete(full, EnvISVSVN)
	if _, err := FromEnv(env(full)); !errors.Is(err, ErrIncompleteEnv) || !strings.Contains(err.Error(), EnvISVSVN) {
		t.Errorf("incomplete env: %v", err)
	}
	full[EnvISVSVN] = "x"
	if _, err := FromEnv(env(full)); err == nil {
		t.Error("bad ISV_SVN accepted")
	}
	full[EnvISVSVN], full[EnvMRSigner] = "any", "abcd"
	if _, err := FromEnv(env(full)); err == nil {
		t.Error("short MRSIGNER accepted")
	}
}

func TestLoad(t *testing.T) {
	p, err := Load("testdata/sgx.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Evaluate(verified(t, "sgx")); err != nil {
		t.Errorf("testdata/sgx.toml: %v", err)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"typo.toml":   "allow_outdated_tcb = true\n",
		"hex.toml":    "mrenclave = [\"zz\"]\n",
		"typo.json":   `{"mrenclaves": []}`,
		"syntax.toml": "mrenclave = [\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Errorf("%s: accepted %q", name, body)
		}
	}
	path := filepath.Join(dir, "ok.json")
	os.WriteFile(path, []byte(`{"mrtd": ["`+tdxMRTD+`"], "allow_debug_enclave_insecure": true}`), 0o600)
	if p, err := Load(path); err != nil || len(p.MRTD) != 1 || !p.AllowDebug {
		t.Errorf("JSON policy: %+v %v", p, err)
	}
}

// trustee's tdx_quote_6 is genuine but OutOfDate (its PCK CRL is not public,
// so that check is skipped): rejected unless RA_TLS_ALLOW_OUTDATED_TCB_INSECURE.
func TestOutdatedTCBPolicy(t *testing.T) {
	bundle, err := verify.LoadCollateral(evidence + "tdx/dcap-qvl/tdx_quote_collateral.json")
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := verify.LoadCollateral(evidence+"tdx/trustee/tcbInfo.json", evidence+"tdx/trustee/enclaveIdentity.json")
	if err != nil {
		t.Fatal(err)
	}
	col := &verify.Collateral{Certs: bundle.Certs, TCBInfos: pcs.TCBInfos, QEIdentities: pcs.QEIdentities}
	raw, err := os.ReadFile(evidence + "tdx/trustee/tdx_quote_6.dat")
	if err != nil {
		t.Fatal(err)
	}
	now, _ := time.Parse(time.RFC3339, "2025-11-10T00:00:00Z")
	opts := &verify.Options{Now: func() time.Time { return now }, Collateral: col, AllowMissingCollateral: true}
	strict := &Policy{}
	res, err := strict.Check(t.Context(), raw, opts)
	if verify.FailedCheck(err) != CheckTCBStatus || res.TCBStatus != verify.TCBOutOfDate {
		t.Fatalf("strict policy: %v (status %s)", err, res.TCBStatus)
	}
	p, err := FromEnv(func(k string) string {
		return map[string]string{EnvMREnclave: "any", EnvMRSigner: "any", EnvISVProdID: "any", EnvISVSVN: "any", EnvAllowOutdatedTCB: "1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(t.Context(), raw, opts); err != nil {
		t.Fatalf("RA_TLS_ALLOW_OUTDATED_TCB_INSECURE=1: %v", err)
	}
}
