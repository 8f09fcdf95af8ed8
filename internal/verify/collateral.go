package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// SignedJSON is an Intel PCS signed JSON document: Body is the exact bytes of
// the "tcbInfo" / "enclaveIdentity" value the signature covers; Signature is
// the raw r||s ECDSA P-256 signature; Chain (signing cert first) may be empty
// when the issuer chain came as a separate file (see Collateral.Certs).
type SignedJSON struct {
	Body      []byte
	Signature []byte
	Chain     []*x509.Certificate
	Source    string
}

// Collateral is everything verification may need besides the evidence. It is
// the union of any number of collateral files; fields are filled by
// ParseCollateral, by hand, or by a Fetcher.
type Collateral struct {
	Certs        []*x509.Certificate // issuer chains, TCB signing, AMD ARK/ASK/ASVK/VCEK/VLEK
	CRLs         []*x509.RevocationList
	TCBInfos     []SignedJSON
	QEIdentities []SignedJSON
}

// Merge appends o's items to c.
func (c *Collateral) Merge(o *Collateral) {
	if o == nil {
		return
	}
	c.Certs = append(c.Certs, o.Certs...)
	c.CRLs = append(c.CRLs, o.CRLs...)
	c.TCBInfos = append(c.TCBInfos, o.TCBInfos...)
	c.QEIdentities = append(c.QEIdentities, o.QEIdentities...)
}

// LoadCollateral reads and merges collateral files (see ParseCollateral).
func LoadCollateral(paths ...string) (*Collateral, error) {
	all := &Collateral{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("collateral: %w", err)
		}
		c, err := ParseCollateral(b)
		if err != nil {
			return nil, fmt.Errorf("collateral %s: %w", p, err)
		}
		for i := range c.TCBInfos {
			c.TCBInfos[i].Source = p
		}
		for i := range c.QEIdentities {
			c.QEIdentities[i].Source = p
		}
		all.Merge(c)
	}
	return all, nil
}

// ErrUnknownCollateral: a collateral file matched none of the known forms.
var ErrUnknownCollateral = errors.New("unrecognized collateral format")

// ParseCollateral auto-detects one collateral file:
//   - dcap-qvl style JSON bundle (keys tcb_info, qe_identity, *_issuer_chain,
//     pck_crl, root_ca_crl; CRLs hex DER, signatures hex r||s);
//   - Intel PCS responses {"tcbInfo":…,"signature":…} and
//     {"enclaveIdentity":…,"signature":…} (also "qeIdentity");
//   - PEM certificates and/or X509 CRLs, in any mix;
//   - a PCS response header dump ("TCB-Info-Issuer-Chain: <URL-encoded PEM>");
//   - a DER certificate (e.g. an AMD VCEK/VLEK) or a DER CRL;
//   - an SNP extended-report certificate table (GUID table).
func ParseCollateral(b []byte) (*Collateral, error) {
	t := bytes.TrimSpace(b)
	switch {
	case len(t) > 0 && t[0] == '{':
		return parseCollateralJSON(t)
	case bytes.Contains(t, []byte("-----BEGIN ")):
		return parseCollateralPEM(t)
	case isEncodedPEM(string(t)):
		return parseHeaderDump(t)
	}
	if cs, err := x509.ParseCertificates(b); err == nil && len(cs) > 0 {
		return &Collateral{Certs: cs}, nil
	}
	if crl, err := x509.ParseRevocationList(b); err == nil {
		return &Collateral{CRLs: []*x509.RevocationList{crl}}, nil
	}
	if certs, err := ParseSNPCertTable(b); err == nil {
		return &Collateral{Certs: certs}, nil
	}
	return nil, fmt.Errorf("%w: not JSON, PEM, DER certificate/CRL or SNP certificate table", ErrUnknownCollateral)
}

func parseCollateralPEM(b []byte) (*Collateral, error) {
	c := &Collateral{}
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM certificate %d: %w", len(c.Certs)+1, err)
			}
			c.Certs = append(c.Certs, cert)
		case "X509 CRL":
			crl, err := x509.ParseRevocationList(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM CRL %d: %w", len(c.CRLs)+1, err)
			}
			c.CRLs = append(c.CRLs, crl)
		}
	}
	if len(c.Certs) == 0 && len(c.CRLs) == 0 {
		return nil, fmt.Errorf("%w: PEM without CERTIFICATE or X509 CRL blocks", ErrUnknownCollateral)
	}
	return c, nil
}

// parseHeaderDump reads "Name: value" lines as saved from PCS response
// headers; *-Issuer-Chain values are URL-encoded PEM.
func parseHeaderDump(b []byte) (*Collateral, error) {
	c := &Collateral{}
	for _, line := range strings.Split(string(b), "\n") {
		_, v, ok := strings.Cut(line, ":")
		if !ok {
			v = line
		}
		v = strings.TrimSpace(v)
		if !isEncodedPEM(v) {
			continue
		}
		// Intel PCS percent-encodes spaces and newlines (%20, %0A) and leaves
		// '+' of base64 as %2B; a form-encoded dump uses '+' for spaces.
		unescape := url.PathUnescape
		if strings.Contains(v, "BEGIN+CERTIFICATE") {
			unescape = url.QueryUnescape
		}
		pemText, err := unescape(v)
		if err != nil {
			return nil, fmt.Errorf("issuer chain header: %w", err)
		}
		certs, err := parsePEMCerts([]byte(pemText))
		if err != nil {
			return nil, fmt.Errorf("issuer chain header: %w", err)
		}
		c.Certs = append(c.Certs, certs...)
	}
	if len(c.Certs) == 0 {
		return nil, fmt.Errorf("%w: no URL-encoded PEM issuer chain in header dump", ErrUnknownCollateral)
	}
	return c, nil
}

// dcapBundle is the JSON collateral form stored by dcap-qvl and similar
// verifiers (QuoteCollateralV3).
type dcapBundle struct {
	PCKCRLIssuerChain     string `json:"pck_crl_issuer_chain"`
	RootCACRL             string `json:"root_ca_crl"`
	PCKCRL                string `json:"pck_crl"`
	TCBInfoIssuerChain    string `json:"tcb_info_issuer_chain"`
	TCBInfo               string `json:"tcb_info"`
	TCBInfoSignature      string `json:"tcb_info_signature"`
	QEIdentityIssuerChain string `json:"qe_identity_issuer_chain"`
	QEIdentity            string `json:"qe_identity"`
	QEIdentitySignature   string `json:"qe_identity_signature"`
}

func parseCollateralJSON(b []byte) (*Collateral, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrUnknownCollateral, err)
	}
	c := &Collateral{}
	if _, ok := top["tcb_info"]; ok {
		var d dcapBundle
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("collateral bundle: %w", err)
		}
		return parseDCAPBundle(&d)
	}
	for _, key := range []string{"tcbInfo", "enclaveIdentity", "qeIdentity"} {
		body, ok := top[key]
		if !ok {
			continue
		}
		var sigHex string
		if err := json.Unmarshal(top["signature"], &sigHex); err != nil {
			return nil, fmt.Errorf("%s response: \"signature\" must be a hex string: %v", key, err)
		}
		sig, err := hex.DecodeString(sigHex)
		if err != nil || len(sig) != 64 {
			return nil, fmt.Errorf("%s response: signature must be 64 bytes of hex (r||s)", key)
		}
		s := SignedJSON{Body: []byte(body), Signature: sig}
		if key == "tcbInfo" {
			c.TCBInfos = append(c.TCBInfos, s)
		} else {
			c.QEIdentities = append(c.QEIdentities, s)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: JSON object without tcb_info, tcbInfo or enclaveIdentity", ErrUnknownCollateral)
}

func parseDCAPBundle(d *dcapBundle) (*Collateral, error) {
	c := &Collateral{}
	chain := func(name, s string) ([]*x509.Certificate, error) {
		if s == "" {
			return nil, nil
		}
		certs, err := parsePEMCerts([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("collateral bundle %s: %w", name, err)
		}
		return certs, nil
	}
	pckIssuer, err := chain("pck_crl_issuer_chain", d.PCKCRLIssuerChain)
	if err != nil {
		return nil, err
	}
	tcbChain, err := chain("tcb_info_issuer_chain", d.TCBInfoIssuerChain)
	if err != nil {
		return nil, err
	}
	qeChain, err := chain("qe_identity_issuer_chain", d.QEIdentityIssuerChain)
	if err != nil {
		return nil, err
	}
	c.Certs = append(c.Certs, pckIssuer...)
	c.Certs = append(c.Certs, tcbChain...)
	for name, v := range map[string]string{"root_ca_crl": d.RootCACRL, "pck_crl": d.PCKCRL} {
		if v == "" {
			continue
		}
		crl, err := parseCRLText(v)
		if err != nil {
			return nil, fmt.Errorf("collateral bundle %s: %w", name, err)
		}
		c.CRLs = append(c.CRLs, crl)
	}
	sig := func(name, s string) ([]byte, error) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 64 {
			return nil, fmt.Errorf("collateral bundle %s: want 64 bytes of hex (r||s)", name)
		}
		return b, nil
	}
	if d.TCBInfo != "" {
		s, err := sig("tcb_info_signature", d.TCBInfoSignature)
		if err != nil {
			return nil, err
		}
		c.TCBInfos = append(c.TCBInfos, SignedJSON{Body: []byte(d.TCBInfo), Signature: s, Chain: tcbChain})
	}
	if d.QEIdentity != "" {
		s, err := sig("qe_identity_signature", d.QEIdentitySignature)
		if err != nil {
			return nil, err
		}
		c.QEIdentities = append(c.QEIdentities, SignedJSON{Body: []byte(d.QEIdentity), Signature: s, Chain: qeChain})
	}
	return c, nil
}

// parseCRLText accepts a CRL as hex DER, PEM or raw DER in a string.
func parseCRLText(s string) (*x509.RevocationList, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil {
			return nil, fmt.Errorf("bad PEM")
		}
		return x509.ParseRevocationList(blk.Bytes)
	}
	if der, err := hex.DecodeString(s); err == nil {
		return x509.ParseRevocationList(der)
	}
	return x509.ParseRevocationList([]byte(s))
}

// certBySubjectCN returns collateral certificates with the given subject CN.
func (c *Collateral) certsByCN(cn string) []*x509.Certificate {
	var out []*x509.Certificate
	for _, x := range c.Certs {
		if x.Subject.CommonName == cn {
			out = append(out, x)
		}
	}
	return out
}

// isEncodedPEM spots a URL-encoded PEM certificate (PCS issuer chain header).
func isEncodedPEM(s string) bool {
	for _, m := range []string{"BEGIN%20CERTIFICATE", "BEGIN+CERTIFICATE", "%2D%2D%2D%2D%2DBEGIN"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
