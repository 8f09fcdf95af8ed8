package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net/url"
	"testing"
)

func TestParseCollateralForms(t *testing.T) {
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	rootCRL := readTestdata(t, "tdx/go-tdx-guest/rootcrl.der")
	chainPEM := readTestdata(t, "tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")
	header := []byte("TCB-Info-Issuer-Chain: " + url.PathEscape(string(chainPEM)) + "\r\nContent-Type: application/json\r\n")
	formHeader := []byte("SGX-PCK-CRL-Issuer-Chain: " + url.QueryEscape(string(chainPEM)) + "\n")
	for _, c := range []struct {
		name                     string
		data                     []byte
		certs, crls, tcbs, qeids int
	}{
		{"dcap-qvl bundle", readTestdata(t, "sgx/dcap-qvl/sgx_quote_collateral.json"), 4, 2, 1, 1},
		{"PCS tcbInfo", readTestdata(t, "tdx/go-tdx-guest/sample_tcbInfo_response"), 0, 0, 1, 0},
		{"PCS tcbInfo v5", readTestdata(t, "tdx/go-tdx-guest/sample_tcbinfo_response_v5"), 0, 0, 1, 0},
		{"PCS QE identity", readTestdata(t, "tdx/go-tdx-guest/sample_qeIdentity_response"), 0, 0, 0, 1},
		{"trustee enclaveIdentity", readTestdata(t, "tdx/trustee/enclaveIdentity.json"), 0, 0, 0, 1},
		{"DER CRL", rootCRL, 0, 1, 0, 0},
		{"PEM CRL", pemOf("X509 CRL", rootCRL), 0, 1, 0, 0},
		{"PEM chain", chainPEM, 2, 0, 0, 0},
		{"PEM chain + CRL", append(append([]byte{}, chainPEM...), pemOf("X509 CRL", rootCRL)...), 2, 1, 0, 0},
		{"header dump", header, 2, 0, 0, 0},
		{"form-encoded header dump", formHeader, 2, 0, 0, 0},
		{"DER VCEK", readTestdata(t, "snp/go-sev-guest/vcek.testcer"), 1, 0, 0, 0},
		{"PEM ASK+ARK", readTestdata(t, "snp/go-sev-guest/milan.testcer"), 2, 0, 0, 0},
		{"SNP cert table", snpCertTable(t), 3, 0, 0, 0},
	} {
		col, err := ParseCollateral(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(col.Certs) != c.certs || len(col.CRLs) != c.crls || len(col.TCBInfos) != c.tcbs || len(col.QEIdentities) != c.qeids {
			t.Errorf("%s: %d certs %d CRLs %d tcbInfos %d QE identities, want %d %d %d %d", c.name,
				len(col.Certs), len(col.CRLs), len(col.TCBInfos), len(col.QEIdentities), c.certs, c.crls, c.tcbs, c.qeids)
		}
	}
	for _, bad := range [][]byte{nil, []byte("hello"), []byte("{}"), []byte(`{"tcbInfo":{},"signature":"zz"}`), []byte("-----BEGIN FOO-----\nAA==\n-----END FOO-----\n")} {
		if _, err := ParseCollateral(bad); err == nil {
			t.Errorf("%q parsed as collateral", bad)
		}
	}
	if _, err := ParseCollateral([]byte("{}")); !errors.Is(err, ErrUnknownCollateral) {
		t.Errorf("{}: %v, want ErrUnknownCollateral", err)
	}
}

// The signed bytes of a PCS response are the tcbInfo value exactly as in the
// file (no re-serialisation).
func TestSignedJSONBytesExact(t *testing.T) {
	raw := readTestdata(t, "tdx/go-tdx-guest/sample_tcbInfo_response")
	col, err := ParseCollateral(raw)
	if err != nil {
		t.Fatal(err)
	}
	body := col.TCBInfos[0].Body
	if !bytes.Contains(raw, body) || body[0] != '{' || body[len(body)-1] != '}' {
		t.Fatalf("body is not a verbatim slice of the response: %.60s…", body)
	}
}

// snpCertTable builds a GHCB certificate table with VCEK, ASK and ARK.
func snpCertTable(t *testing.T) []byte {
	t.Helper()
	vcek := readTestdata(t, "snp/go-sev-guest/vcek.testcer")
	chain, err := parsePEMCerts(readTestdata(t, "snp/go-sev-guest/milan.testcer"))
	if err != nil {
		t.Fatal(err)
	}
	guids := [][]byte{
		{0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}, // VCEK
		{0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}, // ASK
		{0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}, // ARK
	}
	ders := [][]byte{vcek, chain[0].Raw, chain[1].Raw}
	table := make([]byte, 24*4)
	for i, d := range ders {
		e := table[24*i:]
		copy(e, guids[i])
		binary.LittleEndian.PutUint32(e[16:], uint32(len(table)))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(d)+16))
		table = append(table, d...)
		table = append(table, make([]byte, 16)...) // host padding
	}
	return table
}

func TestSNPExtendedReport(t *testing.T) {
	raw := append(readTestdata(t, snpVCEK.evidence), snpCertTable(t)...)
	opts := snpVCEK.opts(t)
	opts.Collateral = nil
	res, err := snpVCEK.verify(t, raw, opts)
	if err != nil {
		t.Fatalf("report + certificate table: %v", err)
	}
	if res.Product != "Milan" {
		t.Errorf("product %q", res.Product)
	}
	// Truncated table.
	if _, err := snpVCEK.verify(t, raw[:len(raw)-200], opts); FailedCheck(err) != "snp.parse" {
		t.Errorf("truncated table: %v", err)
	}
}

func TestVEKExtensions(t *testing.T) {
	for _, f := range []string{"snp/trustee/test-vcek-invalid-legacy.der", "snp/trustee/test-vcek-invalid-new.der", "snp/go-sev-guest/vcek.testcer"} {
		c, err := x509.ParseCertificate(readTestdata(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		x, err := ParseVEKExtensions(c)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if x.ProductName != "Milan-B0" || len(x.HwID) != 64 {
			t.Errorf("%s: product %q hwID %d bytes", f, x.ProductName, len(x.HwID))
		}
	}
	c, _ := x509.ParseCertificate(readTestdata(t, "snp/trustee/test-vlek.der"))
	x, err := ParseVEKExtensions(c)
	if err != nil {
		t.Fatal(err)
	}
	if x.TCB != (SNPTCB{BootLoader: 4, SNP: 24, Microcode: 217}) || x.HwID != nil {
		t.Errorf("VLEK extensions %+v", x)
	}
}
