package verify

import (
	"crypto/x509"
	"embed"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"sync"
)

// AMD root and intermediate certificates for Milan, Genoa and Turin, VCEK and
// VLEK flavours, as served by the AMD KDS (/vcek/v1/<product>/cert_chain and
// /vlek/v1/<product>/cert_chain); copied from go-sev-guest's verify/trust.
//
//go:embed amdroots/*.pem
var amdRootFS embed.FS

// amdCerts maps subject CN (ARK-Milan, SEV-Milan, SEV-VLEK-Milan, …) to the
// embedded certificate; parsed on first use, not at every nacre start.
var amdCerts = sync.OnceValue(loadAMDCerts)

func loadAMDCerts() map[string]*x509.Certificate {
	m := map[string]*x509.Certificate{}
	ents, err := amdRootFS.ReadDir("amdroots")
	if err != nil {
		panic("verify: embedded AMD certificates: " + err.Error())
	}
	for _, e := range ents {
		b, err := amdRootFS.ReadFile("amdroots/" + e.Name())
		if err != nil {
			panic("verify: embedded AMD certificates: " + err.Error())
		}
		certs, err := parsePEMCerts(b)
		if err != nil {
			panic("verify: embedded AMD certificates " + e.Name() + ": " + err.Error())
		}
		for _, c := range certs {
			m[c.Subject.CommonName] = c
		}
	}
	return m
}

// VCEK/VLEK certificate extensions (AMD "Versioned Chip Endorsement Key"
// spec 57230, table 8).
var (
	oidAMDStructVersion = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 1}
	oidAMDProductName   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 2}
	oidAMDBlSPL         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 1}
	oidAMDTeeSPL        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 2}
	oidAMDSnpSPL        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 3}
	oidAMDUcodeSPL      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 8}
	oidAMDFmcSPL        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 9}
	oidAMDHwID          = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 4}
	oidAMDCSPID         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 5}
)

// VEKExtensions are the AMD extensions of a VCEK or VLEK certificate.
type VEKExtensions struct {
	ProductName string // e.g. "Milan-B0" (VCEK) or "Milan" (VLEK)
	TCB         SNPTCB
	HwID        []byte // 64-byte chip ID (VCEK only)
	CSPID       string // VLEK only
}

// ParseVEKExtensions reads the AMD extensions. Integer SPLs are DER INTEGERs;
// hwID is accepted both as a DER OCTET STRING and as the raw 64 bytes (both
// encodings occur in issued VCEKs).
func ParseVEKExtensions(c *x509.Certificate) (*VEKExtensions, error) {
	x := &VEKExtensions{}
	have := map[string]bool{}
	for _, e := range c.Extensions {
		spl := func(dst *uint8, name string) error {
			var v *big.Int
			if rest, err := asn1.Unmarshal(e.Value, &v); err != nil || len(rest) != 0 || v.Sign() < 0 || v.BitLen() > 8 {
				return fmt.Errorf("%w: VEK extension %s is not a DER INTEGER 0..255", ErrMalformed, name)
			}
			*dst = uint8(v.Uint64())
			have[name] = true
			return nil
		}
		var err error
		switch {
		case e.Id.Equal(oidAMDProductName):
			x.ProductName = derString(e.Value)
		case e.Id.Equal(oidAMDCSPID):
			x.CSPID = derString(e.Value)
		case e.Id.Equal(oidAMDBlSPL):
			err = spl(&x.TCB.BootLoader, "blSPL")
		case e.Id.Equal(oidAMDTeeSPL):
			err = spl(&x.TCB.TEE, "teeSPL")
		case e.Id.Equal(oidAMDSnpSPL):
			err = spl(&x.TCB.SNP, "snpSPL")
		case e.Id.Equal(oidAMDUcodeSPL):
			err = spl(&x.TCB.Microcode, "ucodeSPL")
		case e.Id.Equal(oidAMDFmcSPL):
			err = spl(&x.TCB.FMC, "fmcSPL")
		case e.Id.Equal(oidAMDHwID):
			var b []byte
			if rest, err2 := asn1.Unmarshal(e.Value, &b); err2 == nil && len(rest) == 0 && len(b) == 64 {
				x.HwID = b
			} else if len(e.Value) == 64 {
				x.HwID = append([]byte(nil), e.Value...)
			} else {
				err = fmt.Errorf("%w: VEK hwID extension is %d bytes, want 64", ErrMalformed, len(e.Value))
			}
		}
		if err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"blSPL", "teeSPL", "snpSPL", "ucodeSPL"} {
		if !have[n] {
			return nil, fmt.Errorf("%w: VEK certificate %q lacks the %s extension", ErrMalformed, c.Subject.CommonName, n)
		}
	}
	return x, nil
}

// derString decodes a DER string (IA5String, UTF8String, …) or returns the
// raw bytes as text.
func derString(b []byte) string {
	var rv asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &rv); err == nil && len(rest) == 0 && rv.Class == asn1.ClassUniversal && !rv.IsCompound {
		return string(rv.Bytes)
	}
	return string(b)
}

// snpProduct derives the product line from a VEK certificate.
func snpProduct(c *x509.Certificate, x *VEKExtensions) string {
	if x != nil && x.ProductName != "" {
		p, _, _ := strings.Cut(x.ProductName, "-")
		return p
	}
	cn := c.Issuer.CommonName // SEV-Milan, SEV-VLEK-Genoa
	return cn[strings.LastIndex(cn, "-")+1:]
}

// SNP extended-report certificate table GUIDs (GHCB spec, "SNP Extended
// Guest Request": VCEK, VLEK, ASK, ARK).
var snpCertGUIDs = map[string]string{
	"63da758d-e664-4564-adc5-f4b93be8accd": "VCEK",
	"a8074bc2-a25a-483e-aae6-39c045a0b8a1": "VLEK",
	"4ab7b379-bbac-4fe4-a02f-05aef327c782": "ASK",
	"c0b406a4-a803-4952-9743-3fb6014cd0ae": "ARK",
}

func guidString(g []byte, mixedEndian bool) string {
	b := append([]byte(nil), g...)
	if mixedEndian { // Microsoft/Linux guid_t: first three fields little-endian
		b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
		b[4], b[5] = b[5], b[4]
		b[6], b[7] = b[7], b[6]
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ParseSNPCertTable parses an SNP certificate table (the auxblob of
// configfs-tsm or the certs buffer of SNP_GET_EXT_REPORT): 24-byte entries
// {GUID, u32 offset, u32 length} ended by an all-zero entry; offsets are from
// the table start. Entries with known GUIDs must hold DER certificates.
func ParseSNPCertTable(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i := 0; ; i++ {
		off := 24 * i
		if off+24 > len(b) {
			return nil, fmt.Errorf("%w: SNP certificate table: entry %d truncated (no terminating zero entry)", ErrMalformed, i)
		}
		e := b[off : off+24]
		if isZero(e) {
			break
		}
		o, n := binary.LittleEndian.Uint32(e[16:]), binary.LittleEndian.Uint32(e[20:])
		if uint64(o)+uint64(n) > uint64(len(b)) || int(o) < off+24 {
			return nil, fmt.Errorf("%w: SNP certificate table: entry %d points to %d+%d outside the table", ErrMalformed, i, o, n)
		}
		kind := snpCertGUIDs[guidString(e[:16], false)]
		if kind == "" {
			kind = snpCertGUIDs[guidString(e[:16], true)]
		}
		if kind == "" {
			continue
		}
		// Hosts may pad entries; the DER header gives the certificate's length.
		var rv asn1.RawValue
		_, err := asn1.Unmarshal(b[o:o+n], &rv)
		var c *x509.Certificate
		if err == nil {
			c, err = x509.ParseCertificate(rv.FullBytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: SNP certificate table %s entry: %v", ErrMalformed, kind, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: SNP certificate table has no VCEK/VLEK/ASK/ARK entry", ErrMalformed)
	}
	return out, nil
}
