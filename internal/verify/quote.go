package verify

import (
	"encoding/binary"
	"fmt"
)

// Intel DCAP quote layout (Intel SGX ECDSA Quote Library Reference, TDX DCAP
// Quoting Library API; cross-checked against go-tdx-guest's abi package).
// All integers are little-endian.
//
//	header (48 bytes, all versions)
//	0x00 u16 version (3, 4, 5)     0x02 u16 attestation key type (2 = ECDSA-256-with-P-256)
//	0x04 u32 TEE type (0 SGX, 0x81 TDX)
//	0x08 u16 QE SVN (v3) / reserved  0x0A u16 PCE SVN (v3) / reserved
//	0x0C [16] QE vendor ID         0x1C [20] user data
//
//	v3, v4: body at 0x30 (SGX report 384 bytes, or TD10 report 584 bytes);
//	        u32 signature-data length right after the body.
//	v5:     0x30 u16 body type (1 SGX, 2 TD10, 3 TD15), 0x32 u32 body size,
//	        body at 0x36; u32 signature-data length after it.
//
// The quote signature covers everything before the signature-data length.
const (
	quoteHeaderLen  = 48
	sgxReportLen    = 384
	td10ReportLen   = 584
	td15ReportLen   = 648
	attKeyECDSAP256 = 2
	teeTypeSGX      = 0x00000000
	teeTypeTDX      = 0x00000081

	bodyTypeSGX  = 1
	bodyTypeTD10 = 2
	bodyTypeTD15 = 3

	certTypePCKChain = 5 // PEM PCK leaf + intermediate + root
	certTypeQEReport = 6 // QE report certification data wrapping type 5
)

// intelQEVendorID is the QE vendor ID of Intel's quoting enclaves.
var intelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// QuoteHeader is the 48-byte header common to quote versions 3 to 5.
type QuoteHeader struct {
	Version    uint16
	AttKeyType uint16
	TEEType    uint32
	QESVN      uint16
	PCESVN     uint16
	QEVendorID [16]byte
	UserData   [20]byte
}

// SGXReportBody is the 384-byte SGX REPORTBODY (enclave report or QE report).
//
//	0x000 [16] CPUSVN       0x010 u32 MISCSELECT     0x020 [16] ISVEXTPRODID
//	0x030 [16] ATTRIBUTES   0x040 [32] MRENCLAVE     0x080 [32] MRSIGNER
//	0x0C0 [64] CONFIGID     0x100 u16 ISVPRODID      0x102 u16 ISVSVN
//	0x104 u16 CONFIGSVN     0x130 [16] ISVFAMILYID   0x140 [64] REPORTDATA
type SGXReportBody struct {
	CPUSVN     [16]byte
	MiscSelect uint32
	Attributes [16]byte
	MREnclave  [32]byte
	MRSigner   [32]byte
	ConfigID   [64]byte
	ISVProdID  uint16
	ISVSVN     uint16
	ConfigSVN  uint16
	ReportData [64]byte
	Raw        []byte
}

// SGX ATTRIBUTES.FLAGS bits (first 8 bytes of ATTRIBUTES).
const (
	SGXAttrInit          = 1 << 0
	SGXAttrDebug         = 1 << 1
	SGXAttrMode64        = 1 << 2
	SGXAttrProvisionKey  = 1 << 4
	SGXAttrEinitTokenKey = 1 << 5
)

// Flags returns ATTRIBUTES.FLAGS.
func (b *SGXReportBody) Flags() uint64 { return binary.LittleEndian.Uint64(b.Attributes[:8]) }

func parseSGXReportBody(b []byte) SGXReportBody {
	var r SGXReportBody
	copy(r.CPUSVN[:], b[0x00:0x10])
	r.MiscSelect = binary.LittleEndian.Uint32(b[0x10:])
	copy(r.Attributes[:], b[0x30:0x40])
	copy(r.MREnclave[:], b[0x40:0x60])
	copy(r.MRSigner[:], b[0x80:0xA0])
	copy(r.ConfigID[:], b[0xC0:0x100])
	r.ISVProdID = binary.LittleEndian.Uint16(b[0x100:])
	r.ISVSVN = binary.LittleEndian.Uint16(b[0x102:])
	r.ConfigSVN = binary.LittleEndian.Uint16(b[0x104:])
	copy(r.ReportData[:], b[0x140:0x180])
	r.Raw = b[:sgxReportLen:sgxReportLen]
	return r
}

// TDReportBody is the TD10 (584 bytes) or TD15 (648 bytes) quote body.
//
//	0x000 [16] TEE_TCB_SVN   0x010 [48] MRSEAM       0x040 [48] MRSIGNERSEAM
//	0x070 [8] SEAMATTRIBUTES 0x078 [8] TDATTRIBUTES  0x080 [8] XFAM
//	0x088 [48] MRTD          0x0B8 [48] MRCONFIGID   0x0E8 [48] MROWNER
//	0x118 [48] MROWNERCONFIG 0x148 [4][48] RTMR0..3  0x208 [64] REPORTDATA
//	TD15 only: 0x248 [16] TEE_TCB_SVN2, 0x258 [48] MRSERVICETD
type TDReportBody struct {
	TEETCBSVN      [16]byte
	MRSeam         [48]byte
	MRSignerSeam   [48]byte
	SeamAttributes [8]byte
	TDAttributes   [8]byte
	XFAM           [8]byte
	MRTD           [48]byte
	MRConfigID     [48]byte
	MROwner        [48]byte
	MROwnerConfig  [48]byte
	RTMR           [4][48]byte
	ReportData     [64]byte
	TD15           bool
	TEETCBSVN2     [16]byte
	MRServiceTD    [48]byte
}

// TDAttrDebug is TD_ATTRIBUTES bit 0 (TUD.DEBUG).
const TDAttrDebug = 1 << 0

func parseTDReportBody(b []byte, td15 bool) TDReportBody {
	var r TDReportBody
	copy(r.TEETCBSVN[:], b[0x000:])
	copy(r.MRSeam[:], b[0x010:])
	copy(r.MRSignerSeam[:], b[0x040:])
	copy(r.SeamAttributes[:], b[0x070:])
	copy(r.TDAttributes[:], b[0x078:])
	copy(r.XFAM[:], b[0x080:])
	copy(r.MRTD[:], b[0x088:])
	copy(r.MRConfigID[:], b[0x0B8:])
	copy(r.MROwner[:], b[0x0E8:])
	copy(r.MROwnerConfig[:], b[0x118:])
	for i := range r.RTMR {
		copy(r.RTMR[i][:], b[0x148+48*i:])
	}
	copy(r.ReportData[:], b[0x208:])
	if td15 {
		r.TD15 = true
		copy(r.TEETCBSVN2[:], b[0x248:])
		copy(r.MRServiceTD[:], b[0x258:])
	}
	return r
}

// Quote is a parsed Intel DCAP quote (SGX v3/v4/v5 or TDX v4/v5).
type Quote struct {
	Raw      []byte
	Header   QuoteHeader
	BodyType uint16         // bodyType* (v3/v4 derived from the TEE type)
	SGX      *SGXReportBody // enclave report (SGX quotes)
	TD       *TDReportBody  // TD report (TDX quotes)
	// Signed is the quote prefix covered by Signature (header and body).
	Signed    []byte
	Signature [64]byte // ECDSA P-256 r||s by the attestation key
	AttestKey [64]byte // raw P-256 public key x||y

	QEReport          SGXReportBody
	QEReportSignature [64]byte // by the PCK
	QEAuthData        []byte
	// CertType and CertData: the innermost certification data (type 5 PEM chain).
	CertType uint16
	CertData []byte
}

// Platform returns sgx or tdx.
func (q *Quote) Platform() Platform {
	if q.TD != nil {
		return PlatformTDX
	}
	return PlatformSGX
}

// cursor reads little-endian fields and remembers the first overrun.
type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) take(n int, what string) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || len(c.b)-c.off < n {
		c.err = fmt.Errorf("%w: %s at offset %#x needs %d bytes, %d left", ErrMalformed, what, c.off, n, len(c.b)-c.off)
		return nil
	}
	v := c.b[c.off : c.off+n : c.off+n]
	c.off += n
	return v
}

func (c *cursor) u16(what string) uint16 {
	if v := c.take(2, what); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (c *cursor) u32(what string) uint32 {
	if v := c.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// ParseQuote parses an Intel SGX or TDX DCAP quote of version 3, 4 or 5 with
// an ECDSA-P256 attestation key. It checks structure only; Verify checks
// signatures and collateral. Bytes after the signature data are ignored
// (Quote.Raw excludes them).
func ParseQuote(b []byte) (*Quote, error) {
	q := &Quote{Raw: b}
	c := &cursor{b: b}
	h := c.take(quoteHeaderLen, "quote header")
	if c.err != nil {
		return nil, c.err
	}
	q.Header.Version = binary.LittleEndian.Uint16(h[0:])
	q.Header.AttKeyType = binary.LittleEndian.Uint16(h[2:])
	q.Header.TEEType = binary.LittleEndian.Uint32(h[4:])
	q.Header.QESVN = binary.LittleEndian.Uint16(h[8:])
	q.Header.PCESVN = binary.LittleEndian.Uint16(h[10:])
	copy(q.Header.QEVendorID[:], h[12:28])
	copy(q.Header.UserData[:], h[28:48])

	if q.Header.AttKeyType != attKeyECDSAP256 {
		return nil, fmt.Errorf("%w: attestation key type %d (only 2, ECDSA-256-with-P-256)", ErrUnsupported, q.Header.AttKeyType)
	}
	switch q.Header.TEEType {
	case teeTypeSGX, teeTypeTDX:
	default:
		return nil, fmt.Errorf("%w: TEE type %#x (want 0x0 SGX or 0x81 TDX)", ErrUnsupported, q.Header.TEEType)
	}
	var bodyLen int
	switch q.Header.Version {
	case 3:
		if q.Header.TEEType != teeTypeSGX {
			return nil, fmt.Errorf("%w: quote v3 with TEE type %#x", ErrUnsupported, q.Header.TEEType)
		}
		q.BodyType, bodyLen = bodyTypeSGX, sgxReportLen
	case 4:
		q.BodyType, bodyLen = bodyTypeSGX, sgxReportLen
		if q.Header.TEEType == teeTypeTDX {
			q.BodyType, bodyLen = bodyTypeTD10, td10ReportLen
		}
	case 5:
		q.BodyType = c.u16("v5 body type")
		size := c.u32("v5 body size")
		if c.err != nil {
			return nil, c.err
		}
		want := map[uint16]int{bodyTypeSGX: sgxReportLen, bodyTypeTD10: td10ReportLen, bodyTypeTD15: td15ReportLen}[q.BodyType]
		if want == 0 {
			return nil, fmt.Errorf("%w: v5 body type %d", ErrUnsupported, q.BodyType)
		}
		if (q.BodyType == bodyTypeSGX) != (q.Header.TEEType == teeTypeSGX) {
			return nil, fmt.Errorf("%w: v5 body type %d does not match TEE type %#x", ErrMalformed, q.BodyType, q.Header.TEEType)
		}
		if int(size) != want {
			return nil, fmt.Errorf("%w: v5 body size %d, body type %d needs %d", ErrMalformed, size, q.BodyType, want)
		}
		bodyLen = want
	default:
		return nil, fmt.Errorf("%w: quote version %d (want 3, 4 or 5)", ErrUnsupported, q.Header.Version)
	}
	body := c.take(bodyLen, "report body")
	if c.err != nil {
		return nil, c.err
	}
	if q.BodyType == bodyTypeSGX {
		r := parseSGXReportBody(body)
		q.SGX = &r
	} else {
		r := parseTDReportBody(body, q.BodyType == bodyTypeTD15)
		q.TD = &r
	}
	q.Signed = b[:c.off:c.off]

	sigLen := c.u32("signature data length")
	sig := c.take(int(sigLen), "signature data")
	if c.err != nil {
		return nil, c.err
	}
	// Bytes after the signature data are not part of the quote (quote
	// buffers are often padded; go-tdx-guest's sample carries text there).
	q.Raw = b[:c.off:c.off]
	if err := q.parseSignatureData(sig); err != nil {
		return nil, err
	}
	return q, nil
}

// parseSignatureData parses the ECDSA signature data.
//
//	[64] quote signature  [64] attestation public key
//	v3: [384] QE report  [64] QE report signature  u16+[n] QE auth data
//	    u16 cert type (5)  u32+[n] cert data
//	v4/v5: u16 cert type (6)  u32+[n] QE report certification data, which is
//	    the v3 layout from the QE report on.
func (q *Quote) parseSignatureData(sig []byte) error {
	c := &cursor{b: sig}
	copy(q.Signature[:], c.take(64, "quote signature"))
	copy(q.AttestKey[:], c.take(64, "attestation key"))
	if c.err != nil {
		return c.err
	}
	inner := c
	if q.Header.Version >= 4 {
		t := c.u16("certification data type")
		n := c.u32("certification data size")
		data := c.take(int(n), "QE report certification data")
		if c.err != nil {
			return c.err
		}
		if t != certTypeQEReport {
			return fmt.Errorf("%w: outer certification data type %d (want 6, QE report)", ErrUnsupported, t)
		}
		if c.off != len(sig) {
			return fmt.Errorf("%w: %d bytes after the certification data inside the signature data", ErrMalformed, len(sig)-c.off)
		}
		inner = &cursor{b: data}
	}
	qe := inner.take(sgxReportLen, "QE report")
	qeSig := inner.take(64, "QE report signature")
	authLen := inner.u16("QE auth data size")
	auth := inner.take(int(authLen), "QE auth data")
	q.CertType = inner.u16("certification data type")
	n := inner.u32("certification data size")
	q.CertData = inner.take(int(n), "certification data")
	if inner.err != nil {
		return inner.err
	}
	// Sizes must add up exactly: slack would be bytes no check covers.
	if inner.off != len(inner.b) {
		return fmt.Errorf("%w: %d bytes after the PCK certification data", ErrMalformed, len(inner.b)-inner.off)
	}
	q.QEReport = parseSGXReportBody(qe)
	copy(q.QEReportSignature[:], qeSig)
	q.QEAuthData = auth
	if q.CertType != certTypePCKChain {
		return fmt.Errorf("%w: certification data type %d (only 5, PEM PCK chain)", ErrUnsupported, q.CertType)
	}
	return nil
}

// ParseSGXQuote parses a quote and requires it to be an SGX quote.
func ParseSGXQuote(b []byte) (*Quote, error) {
	q, err := ParseQuote(b)
	if err != nil {
		return nil, err
	}
	if q.SGX == nil {
		return nil, fmt.Errorf("%w: TDX quote where an SGX quote was expected", ErrUnsupported)
	}
	return q, nil
}

// ParseTDXQuote parses a quote and requires it to be a TDX quote.
func ParseTDXQuote(b []byte) (*Quote, error) {
	q, err := ParseQuote(b)
	if err != nil {
		return nil, err
	}
	if q.TD == nil {
		return nil, fmt.Errorf("%w: SGX quote where a TDX quote was expected", ErrUnsupported)
	}
	return q, nil
}
