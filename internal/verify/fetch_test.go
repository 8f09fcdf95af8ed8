package verify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pcsServer serves go-tdx-guest's recorded PCS responses on loopback.
func pcsServer(t *testing.T) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string
	file := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chain := url.PathEscape(string(file("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")))
	crlChain := url.PathEscape(string(file("tdx/go-tdx-guest/pckcrl_issuer_chain.pem")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		switch {
		case r.URL.Path == "/tdx/certification/v4/tcb" && r.URL.Query().Get("fmspc") == "50806f000000":
			w.Header().Set("TCB-Info-Issuer-Chain", chain)
			w.Write(file("tdx/go-tdx-guest/sample_tcbInfo_response"))
		case r.URL.Path == "/tdx/certification/v4/qe/identity":
			w.Header().Set("SGX-Enclave-Identity-Issuer-Chain", chain)
			w.Write(file("tdx/go-tdx-guest/sample_qeIdentity_response"))
		case r.URL.Path == "/sgx/certification/v4/pckcrl" && r.URL.Query().Get("ca") == "platform":
			w.Header().Set("SGX-PCK-CRL-Issuer-Chain", crlChain)
			w.Write(file("tdx/go-tdx-guest/pckcrl"))
		case r.URL.Path == "/root.der":
			w.Write(file("tdx/go-tdx-guest/rootcrl.der"))
		case r.URL.Path == "/vcek/v1/Milan/cert_chain":
			w.Write(file("snp/go-sev-guest/milan.testcer"))
		case strings.HasPrefix(r.URL.Path, "/vcek/v1/Milan/"):
			w.Write(file("snp/go-sev-guest/vcek.testcer"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestHTTPFetcher(t *testing.T) {
	srv, seen := pcsServer(t)
	f := &HTTPFetcher{Client: srv.Client(), PCSURL: srv.URL, RootCRLURL: srv.URL + "/root.der", KDSURL: srv.URL}
	at := mustTime(t, gtgSample.at)
	// Same outcome as with the files: everything verifies up to the TCB level.
	_, err := gtgSample.verify(t, nil, &Options{Now: func() time.Time { return at }, Fetcher: f})
	if FailedCheck(err) != "tcb.level" {
		t.Fatalf("fetched collateral: %v", err)
	}
	if len(*seen) != 4 {
		t.Errorf("requests %v", *seen)
	}

	r, err := ParseSNPReport(readTestdata(t, snpVCEK.evidence))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := f.SNPCertificates(t.Context(), "Milan", r.ChipID[:], r.ReportedTCB)
	if err != nil || len(certs) != 3 {
		t.Fatalf("KDS: %d certs, %v", len(certs), err)
	}
	last := (*seen)[len(*seen)-2]
	if !strings.Contains(last, "/vcek/v1/Milan/3ac3fe21") || !strings.Contains(last, "blSPL=2") || !strings.Contains(last, "snpSPL=5") || !strings.Contains(last, "ucodeSPL=68") {
		t.Errorf("VCEK request %s", last)
	}
	if _, err := f.SNPCertificates(t.Context(), "", r.ChipID[:], r.ReportedTCB); err == nil {
		t.Error("unknown product fetched")
	}
	f.PCSURL = srv.URL + "/missing"
	if _, err := f.IntelCollateral(t.Context(), "TDX", []byte{0x50, 0x80, 0x6f, 0, 0, 0}, []byte{0, 0}, "platform"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("HTTP error: %v", err)
	}
}
