package verify

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Default service addresses used by HTTPFetcher.
const (
	IntelPCSURL      = "https://api.trustedservices.intel.com"
	IntelRootCRLURL  = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
	AMDKDSURL        = "https://kdsintf.amd.com"
	maxFetchResponse = 1 << 20
)

// HTTPFetcher fetches collateral from Intel PCS (or a PCCS with the same
// API) and the AMD KDS. It is used only when set in Options.Fetcher; nothing
// in this package goes to the network otherwise.
type HTTPFetcher struct {
	Client     *http.Client // default http.DefaultClient
	PCSURL     string       // default IntelPCSURL; a PCCS works too
	RootCRLURL string       // default IntelRootCRLURL
	KDSURL     string       // default AMDKDSURL
}

func (f *HTTPFetcher) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchResponse))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch %s: HTTP %s", u, resp.Status)
	}
	return b, resp.Header, nil
}

func orURL(s, d string) string {
	if s == "" {
		return d
	}
	return strings.TrimRight(s, "/")
}

// IntelCollateral fetches TCB info, QE identity, the PCK CRL and the Root CA
// CRL (PCS API v4) and the issuer chains from the response headers.
func (f *HTTPFetcher) IntelCollateral(ctx context.Context, tee string, fmspc, pceid []byte, pckCA string) (*Collateral, error) {
	base := orURL(f.PCSURL, IntelPCSURL)
	kind := "sgx"
	if tee == "TDX" {
		kind = "tdx"
	}
	out := &Collateral{}
	add := func(body []byte, hdr http.Header, chainHeader string) error {
		c, err := ParseCollateral(body)
		if err != nil {
			return err
		}
		v := hdr.Get(chainHeader)
		if v == "" && chainHeader != "" { // PCS API v3 spelling
			v = hdr.Get("SGX-" + chainHeader)
		}
		if v != "" {
			chain, err := parseHeaderDump([]byte(chainHeader + ": " + v))
			if err != nil {
				return fmt.Errorf("%s header: %w", chainHeader, err)
			}
			for i := range c.TCBInfos {
				c.TCBInfos[i].Chain = chain.Certs
			}
			for i := range c.QEIdentities {
				c.QEIdentities[i].Chain = chain.Certs
			}
			c.Certs = append(c.Certs, chain.Certs...)
		}
		out.Merge(c)
		return nil
	}
	b, h, err := f.get(ctx, base+"/"+kind+"/certification/v4/tcb?fmspc="+url.QueryEscape(hex.EncodeToString(fmspc)))
	if err != nil {
		return nil, err
	}
	if err := add(b, h, "TCB-Info-Issuer-Chain"); err != nil {
		return nil, fmt.Errorf("tcbInfo: %w", err)
	}
	if b, h, err = f.get(ctx, base+"/"+kind+"/certification/v4/qe/identity"); err != nil {
		return nil, err
	}
	if err := add(b, h, "SGX-Enclave-Identity-Issuer-Chain"); err != nil {
		return nil, fmt.Errorf("QE identity: %w", err)
	}
	if b, h, err = f.get(ctx, base+"/sgx/certification/v4/pckcrl?ca="+url.QueryEscape(pckCA)+"&encoding=der"); err != nil {
		return nil, err
	}
	if err := add(b, h, "SGX-PCK-CRL-Issuer-Chain"); err != nil {
		return nil, fmt.Errorf("PCK CRL: %w", err)
	}
	if b, _, err = f.get(ctx, orURL(f.RootCRLURL, IntelRootCRLURL)); err != nil {
		return nil, err
	}
	if err := add(b, nil, ""); err != nil {
		return nil, fmt.Errorf("Root CA CRL: %w", err)
	}
	return out, nil
}

// SNPCertificates fetches the VCEK for chipID at reportedTCB and the
// product's ASK/ARK chain from the AMD KDS.
func (f *HTTPFetcher) SNPCertificates(ctx context.Context, product string, chipID []byte, reportedTCB uint64) ([]*x509.Certificate, error) {
	if product == "" {
		return nil, fmt.Errorf("SNP product unknown (v2 reports carry no CPUID): give the VCEK as collateral")
	}
	base := orURL(f.KDSURL, AMDKDSURL)
	t := DecodeSNPTCB(reportedTCB, product)
	q := url.Values{}
	q.Set("blSPL", fmt.Sprint(t.BootLoader))
	q.Set("teeSPL", fmt.Sprint(t.TEE))
	q.Set("snpSPL", fmt.Sprint(t.SNP))
	q.Set("ucodeSPL", fmt.Sprint(t.Microcode))
	id := chipID
	if product == "Turin" { // Turin VCEKs are keyed by the first 8 bytes of the chip ID
		q.Set("fmcSPL", fmt.Sprint(t.FMC))
		id = chipID[:8]
	}
	b, _, err := f.get(ctx, base+"/vcek/v1/"+url.PathEscape(product)+"/"+hex.EncodeToString(id)+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	vcek, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("KDS VCEK: %w", err)
	}
	if b, _, err = f.get(ctx, base+"/vcek/v1/"+url.PathEscape(product)+"/cert_chain"); err != nil {
		return nil, err
	}
	chain, err := parsePEMCerts(b)
	if err != nil {
		return nil, fmt.Errorf("KDS cert_chain: %w", err)
	}
	return append([]*x509.Certificate{vcek}, chain...), nil
}
