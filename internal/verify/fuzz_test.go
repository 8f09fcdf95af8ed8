package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, files ...string) {
	for _, p := range files {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

var (
	sgxQuoteSeeds = []string{"sgx/dcap-qvl/sgx_quote", "sgx/trustee/occlum_quote.dat"}
	tdxQuoteSeeds = []string{"tdx/dcap-qvl/tdx_quote", "tdx/dcap-qvl/tdx_quote_outdated", "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
		"tdx/trustee/tdx_quote_4.dat", "tdx/trustee/tdx_quote_5.dat", "tdx/trustee/tdx_quote_6.dat"}
)

func checkParsedQuote(t *testing.T, in []byte, q *Quote) {
	if len(q.Raw) > len(in) || len(q.Signed) >= len(q.Raw) || !bytes.HasPrefix(in, q.Raw) {
		t.Fatalf("inconsistent slices: raw %d signed %d input %d", len(q.Raw), len(q.Signed), len(in))
	}
	if (q.SGX == nil) == (q.TD == nil) {
		t.Fatal("exactly one of SGX and TD must be set")
	}
	// Re-parsing the quote proper gives the same layout.
	q2, err := ParseQuote(q.Raw)
	if err != nil || len(q2.CertData) != len(q.CertData) || q2.BodyType != q.BodyType {
		t.Fatalf("re-parse of Raw differs: %v", err)
	}
}

func FuzzParseSGXQuote(f *testing.F) {
	addSeeds(f, sgxQuoteSeeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseSGXQuote(b)
		if err != nil {
			return
		}
		if q.SGX == nil {
			t.Fatal("SGX quote without SGX body")
		}
		checkParsedQuote(t, b, q)
	})
}

func FuzzParseTDXQuote(f *testing.F) {
	addSeeds(f, tdxQuoteSeeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseTDXQuote(b)
		if err != nil {
			return
		}
		if q.TD == nil {
			t.Fatal("TDX quote without TD body")
		}
		checkParsedQuote(t, b, q)
	})
}

func FuzzParseSNPReport(f *testing.F) {
	addSeeds(f, "snp/go-sev-guest/attestation.bin", "snp/trustee/test-vlek-report.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseSNPReport(b); err == nil && len(r.Raw) != snpReportLen {
			t.Fatalf("report of %d bytes", len(r.Raw))
		}
		// Extended form: report + certificate table.
		if rep, _, err := SplitSNPExtended(b); err == nil && len(rep) > len(b) {
			t.Fatal("split grew the input")
		}
		_, _ = ParseSNPCertTable(b)
	})
}

func FuzzParseCollateral(f *testing.F) {
	addSeeds(f, "sgx/dcap-qvl/sgx_quote_collateral.json", "tdx/go-tdx-guest/sample_tcbInfo_response",
		"tdx/go-tdx-guest/sample_qeIdentity_response", "tdx/go-tdx-guest/pckcrl", "tdx/go-tdx-guest/rootcrl.der",
		"tdx/go-tdx-guest/tcbinfo_issuer_chain.pem", "snp/go-sev-guest/vcek.testcer", "snp/trustee/milan_ask_ark_asvk.pem")
	f.Add([]byte("TCB-Info-Issuer-Chain: -----BEGIN%20CERTIFICATE-----%0A"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCollateral(b)
		if err != nil {
			return
		}
		// The JSON documents found must survive their own parsers without panicking.
		for _, d := range c.TCBInfos {
			_, _ = ParseTCBInfo(d.Body)
		}
		for _, d := range c.QEIdentities {
			_, _ = ParseQEIdentity(d.Body)
		}
		for _, x := range c.Certs {
			_, _ = ParsePCKExtensions(x)
			_, _ = ParseVEKExtensions(x)
		}
	})
}
