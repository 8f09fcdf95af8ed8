package verify

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sample is one evidence file with its collateral and the clock its
// README (testdata/README.md) says to pin.
type sample struct {
	name       string
	evidence   string
	collateral []string
	at         string
}

var (
	sgxSample = sample{"sgx-v3", "sgx/dcap-qvl/sgx_quote", []string{"sgx/dcap-qvl/sgx_quote_collateral.json"}, "2025-07-01T00:00:00Z"}
	tdxSample = sample{"tdx-v4", "tdx/dcap-qvl/tdx_quote", []string{"tdx/dcap-qvl/tdx_quote_collateral.json"}, "2025-07-01T00:00:00Z"}
	tdx5      = sample{"tdx-v5-outdated", "tdx/dcap-qvl/tdx_quote_outdated", []string{"tdx/dcap-qvl/tdx_quote_outdated_collateral.json"}, "2026-03-01T00:00:00Z"}
	gtgSample = sample{"tdx-v4-go-tdx-guest", "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat", []string{
		"tdx/go-tdx-guest/pckcrl", "tdx/go-tdx-guest/rootcrl.der", "tdx/go-tdx-guest/sample_tcbInfo_response",
		"tdx/go-tdx-guest/sample_qeIdentity_response", "tdx/go-tdx-guest/tcbinfo_issuer_chain.pem",
		"tdx/go-tdx-guest/pckcrl_issuer_chain.pem"}, "2023-07-01T01:00:00Z"}
	snpVCEK = sample{"snp-v2-vcek", "snp/go-sev-guest/attestation.bin", []string{"snp/go-sev-guest/vcek.testcer", "snp/go-sev-guest/milan.testcer"}, "2022-09-24T01:00:00Z"}
	snpVLEK = sample{"snp-v3-vlek", "snp/trustee/test-vlek-report.bin", []string{"snp/trustee/test-vlek.der", "snp/trustee/milan_ask_ark_asvk.pem"}, "2025-06-01T00:00:00Z"}
)

func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func (s sample) opts(t testing.TB) *Options {
	t.Helper()
	var paths []string
	for _, p := range s.collateral {
		paths = append(paths, filepath.Join("testdata", p))
	}
	col, err := LoadCollateral(paths...)
	if err != nil {
		t.Fatal(err)
	}
	at := mustTime(t, s.at)
	return &Options{Now: func() time.Time { return at }, Collateral: col}
}

func (s sample) verify(t testing.TB, raw []byte, opts *Options) (*Result, error) {
	t.Helper()
	if raw == nil {
		raw = readTestdata(t, s.evidence)
	}
	if opts == nil {
		opts = s.opts(t)
	}
	return VerifyEvidence(context.Background(), raw, opts)
}
