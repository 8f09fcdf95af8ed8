package verify

import (
	"encoding/binary"
	"fmt"
)

// AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec 56860, table
// "ATTESTATION_REPORT Structure"), 0x4A0 = 1184 bytes, little-endian:
//
//	0x000 u32 VERSION (2, 3, 5)     0x004 u32 GUEST_SVN     0x008 u64 POLICY
//	0x010 [16] FAMILY_ID            0x020 [16] IMAGE_ID     0x030 u32 VMPL
//	0x034 u32 SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384)
//	0x038 u64 CURRENT_TCB           0x040 u64 PLATFORM_INFO
//	0x048 u32 flags: bit0 AUTHOR_KEY_EN, bit1 MASK_CHIP_KEY, bits2-4 SIGNING_KEY (0 VCEK, 1 VLEK, 7 none)
//	0x050 [64] REPORT_DATA          0x090 [48] MEASUREMENT  0x0C0 [32] HOST_DATA
//	0x0E0 [48] ID_KEY_DIGEST        0x110 [48] AUTHOR_KEY_DIGEST
//	0x140 [32] REPORT_ID            0x160 [32] REPORT_ID_MA 0x180 u64 REPORTED_TCB
//	0x188 u8 CPUID_FAM_ID, 0x189 u8 CPUID_MOD_ID, 0x18A u8 CPUID_STEP (v3+)
//	0x1A0 [64] CHIP_ID              0x1E0 u64 COMMITTED_TCB
//	0x1E8 u8 CURRENT_BUILD, MINOR, MAJOR   0x1EC u8 COMMITTED_BUILD, MINOR, MAJOR
//	0x1F0 u64 LAUNCH_TCB            (v5: 0x1F8 u64 LAUNCH_MIT_VECTOR, 0x200 u64 CURRENT_MIT_VECTOR)
//	0x2A0 SIGNATURE: [72] R, [72] S (little-endian, zero-extended), reserved to 0x4A0
//
// The signature covers bytes 0x000..0x29F.
const (
	snpReportLen    = 0x4A0
	snpSignedLen    = 0x2A0
	snpSigAlgoP384  = 1
	snpPolicyDebug  = 1 << 19
	snpPolicySMT    = 1 << 16
	snpKeyVCEK      = 0
	snpKeyVLEK      = 1
	snpKeyNone      = 7
	snpFlagAuthorEn = 1 << 0
	snpFlagMaskChip = 1 << 1
)

// SNPReport is a parsed SEV-SNP attestation report.
type SNPReport struct {
	Raw             []byte
	Version         uint32
	GuestSVN        uint32
	Policy          uint64
	FamilyID        [16]byte
	ImageID         [16]byte
	VMPL            uint32
	SignatureAlgo   uint32
	CurrentTCB      uint64
	PlatformInfo    uint64
	Flags           uint32
	ReportData      [64]byte
	Measurement     [48]byte
	HostData        [32]byte
	IDKeyDigest     [48]byte
	AuthorKeyDigest [48]byte
	ReportID        [32]byte
	ReportIDMA      [32]byte
	ReportedTCB     uint64
	CPUIDFamily     uint8
	CPUIDModel      uint8
	CPUIDStepping   uint8
	ChipID          [64]byte
	CommittedTCB    uint64
	CurrentBuild    uint8
	CurrentMinor    uint8
	CurrentMajor    uint8
	CommittedBuild  uint8
	CommittedMinor  uint8
	CommittedMajor  uint8
	LaunchTCB       uint64
	SigR, SigS      [72]byte // little-endian
}

// SigningKey returns the SIGNING_KEY field (0 VCEK, 1 VLEK, 7 none).
func (r *SNPReport) SigningKey() uint32 { return (r.Flags >> 2) & 7 }

// Debug reports whether the guest policy allows debugging.
func (r *SNPReport) Debug() bool { return r.Policy&snpPolicyDebug != 0 }

// ParseSNPReport parses a 1184-byte SEV-SNP attestation report (version 2, 3
// or 5). Extra bytes after the report are rejected; use SplitSNPExtended for
// a report followed by a certificate table.
func ParseSNPReport(b []byte) (*SNPReport, error) {
	if len(b) != snpReportLen {
		return nil, fmt.Errorf("%w: SNP report is %d bytes, want %d", ErrMalformed, len(b), snpReportLen)
	}
	le := binary.LittleEndian
	r := &SNPReport{Raw: b}
	r.Version = le.Uint32(b[0x000:])
	switch r.Version {
	case 2, 3, 5:
	default:
		return nil, fmt.Errorf("%w: SNP report version %d (want 2, 3 or 5)", ErrUnsupported, r.Version)
	}
	r.GuestSVN = le.Uint32(b[0x004:])
	r.Policy = le.Uint64(b[0x008:])
	copy(r.FamilyID[:], b[0x010:])
	copy(r.ImageID[:], b[0x020:])
	r.VMPL = le.Uint32(b[0x030:])
	r.SignatureAlgo = le.Uint32(b[0x034:])
	if r.SignatureAlgo != snpSigAlgoP384 {
		return nil, fmt.Errorf("%w: SNP signature algorithm %d (want 1, ECDSA P-384)", ErrUnsupported, r.SignatureAlgo)
	}
	r.CurrentTCB = le.Uint64(b[0x038:])
	r.PlatformInfo = le.Uint64(b[0x040:])
	r.Flags = le.Uint32(b[0x048:])
	copy(r.ReportData[:], b[0x050:])
	copy(r.Measurement[:], b[0x090:])
	copy(r.HostData[:], b[0x0C0:])
	copy(r.IDKeyDigest[:], b[0x0E0:])
	copy(r.AuthorKeyDigest[:], b[0x110:])
	copy(r.ReportID[:], b[0x140:])
	copy(r.ReportIDMA[:], b[0x160:])
	r.ReportedTCB = le.Uint64(b[0x180:])
	r.CPUIDFamily, r.CPUIDModel, r.CPUIDStepping = b[0x188], b[0x189], b[0x18A]
	copy(r.ChipID[:], b[0x1A0:])
	r.CommittedTCB = le.Uint64(b[0x1E0:])
	r.CurrentBuild, r.CurrentMinor, r.CurrentMajor = b[0x1E8], b[0x1E9], b[0x1EA]
	r.CommittedBuild, r.CommittedMinor, r.CommittedMajor = b[0x1EC], b[0x1ED], b[0x1EE]
	r.LaunchTCB = le.Uint64(b[0x1F0:])
	copy(r.SigR[:], b[0x2A0:])
	copy(r.SigS[:], b[0x2E8:])
	// R and S are 48-byte values zero-extended to 72 bytes; everything after
	// them is reserved. Requiring zeros there leaves no unsigned byte free.
	if !isZero(r.SigR[48:]) || !isZero(r.SigS[48:]) || !isZero(b[0x330:]) {
		return nil, fmt.Errorf("%w: SNP signature padding / reserved bytes after 0x2A0 are not zero", ErrMalformed)
	}
	return r, nil
}

// SNPTCB is a decoded TCB_VERSION. Milan and Genoa: byte 0 boot loader,
// 1 TEE, 6 SNP, 7 microcode. Turin: 0 FMC, 1 boot loader, 2 TEE, 3 SNP,
// 7 microcode.
type SNPTCB struct {
	FMC, BootLoader, TEE, SNP, Microcode uint8
}

// DecodeSNPTCB decodes v for product ("Turin" uses the newer layout).
func DecodeSNPTCB(v uint64, product string) SNPTCB {
	b := func(i int) uint8 { return uint8(v >> (8 * i)) }
	if product == "Turin" {
		return SNPTCB{FMC: b(0), BootLoader: b(1), TEE: b(2), SNP: b(3), Microcode: b(7)}
	}
	return SNPTCB{BootLoader: b(0), TEE: b(1), SNP: b(6), Microcode: b(7)}
}

func (t SNPTCB) String() string {
	return fmt.Sprintf("fmc %d, bootloader %d, tee %d, snp %d, microcode %d", t.FMC, t.BootLoader, t.TEE, t.SNP, t.Microcode)
}

// productFromCPUID maps the v3+ CPUID family/model to the product line.
func productFromCPUID(fam, model uint8) string {
	if fam == 0x19 {
		switch {
		case model <= 0x0F:
			return "Milan"
		case model >= 0x10 && model <= 0x1F, model >= 0xA0 && model <= 0xAF:
			return "Genoa"
		}
	}
	if fam == 0x1A && model <= 0x11 {
		return "Turin"
	}
	return ""
}
