package tee

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultSevGuestDevice is the SNP guest driver's device (Linux 5.19+).
const DefaultSevGuestDevice = "/dev/sev-guest"

// SNP_GET_DERIVED_KEY = _IOWR('S', 1, struct snp_guest_request_ioctl), and
// struct snp_guest_request_ioctl is 32 bytes (u8 msg_version, padding,
// u64 req_data, u64 resp_data, u64 exitinfo2).
const (
	snpGuestRequestSize         = 32
	snpGetDerivedKey    uintptr = 3<<30 | snpGuestRequestSize<<16 | 'S'<<8 | 1
	snpDerivedKeyReqLen         = 32 // struct snp_derived_key_req
	snpDerivedKeyRspLen         = 64 // struct snp_derived_key_resp (MSG_KEY_RSP)
)

// Guest field select bits of MSG_KEY_REQ (SEV-SNP ABI): which launch facts
// are mixed into the derived key.
const (
	SNPFieldPolicy      = 1 << 0
	SNPFieldImageID     = 1 << 1
	SNPFieldFamilyID    = 1 << 2
	SNPFieldMeasurement = 1 << 3
	SNPFieldGuestSVN    = 1 << 4
	SNPFieldTCBVersion  = 1 << 5
)

// SNPKeyRequest is struct snp_derived_key_req.
type SNPKeyRequest struct {
	RootKeySelect    uint32 // 0 = VCEK, 1 = VMRK
	GuestFieldSelect uint64
	VMPL             uint32
	GuestSVN         uint32
	TCBVersion       uint64
}

// Marshal encodes the request in the kernel's little-endian layout:
// u32 root_key_select, u32 rsvd, u64 guest_field_select, u32 vmpl,
// u32 guest_svn, u64 tcb_version.
func (r SNPKeyRequest) Marshal() []byte {
	b := make([]byte, snpDerivedKeyReqLen)
	binary.LittleEndian.PutUint32(b[0:], r.RootKeySelect)
	binary.LittleEndian.PutUint64(b[8:], r.GuestFieldSelect)
	binary.LittleEndian.PutUint32(b[16:], r.VMPL)
	binary.LittleEndian.PutUint32(b[20:], r.GuestSVN)
	binary.LittleEndian.PutUint64(b[24:], r.TCBVersion)
	return b
}

// parseSNPKeyResponse extracts the 32-byte key from MSG_KEY_RSP:
// u32 status, 28 reserved bytes, 32-byte derived key.
func parseSNPKeyResponse(b []byte) ([32]byte, error) {
	var k [32]byte
	if len(b) != snpDerivedKeyRspLen {
		return k, fmt.Errorf("SNP derived key response: %d bytes, want %d", len(b), snpDerivedKeyRspLen)
	}
	if st := binary.LittleEndian.Uint32(b); st != 0 {
		return k, fmt.Errorf("SNP firmware refused the key request: MSG_KEY_RSP status %#x (0x16 = invalid parameters)", st)
	}
	copy(k[:], b[32:64])
	if k == ([32]byte{}) {
		return k, errors.New("SNP derived key response: all-zero key")
	}
	return k, nil
}

// DefaultSNPKeyRequest mixes the launch measurement, policy and guest SVN
// into a VCEK-rooted key (stable across reboots of the same image on the same
// chip and TCB-independent, like Gramine's MRENCLAVE sealing key).
var DefaultSNPKeyRequest = SNPKeyRequest{GuestFieldSelect: SNPFieldPolicy | SNPFieldMeasurement | SNPFieldGuestSVN}

// SealingKey turns a platform-derived key into nacre's 16-byte key for
// encrypted files of one application: HKDF-SHA256(ikm = platform key,
// salt = "nacre-sealing-v1", info = measurement | name).
func SealingKey(platformKey [32]byte, measurement [32]byte, name string) ([16]byte, error) {
	var out [16]byte
	info := append(append([]byte{}, measurement[:]...), name...)
	k, err := hkdf.Key(sha256.New, platformKey[:], []byte("nacre-sealing-v1"), string(info), 16)
	if err != nil {
		return out, err
	}
	copy(out[:], k)
	return out, nil
}

// DerivedKey returns the application sealing key for platform name: on SNP
// from /dev/sev-guest (dev "" = default) mixed with measurement; on TDX and
// elsewhere ErrNoDerivedKey.
func DerivedKey(platform, dev string, measurement [32]byte, name string) ([16]byte, error) {
	switch platform {
	case PlatformSNP:
		if dev == "" {
			dev = DefaultSevGuestDevice
		}
		pk, err := snpDerivedKey(dev, DefaultSNPKeyRequest)
		if err != nil {
			return [16]byte{}, err
		}
		return SealingKey(pk, measurement, name)
	case PlatformTDX:
		return [16]byte{}, fmt.Errorf("%w: TDX offers no sealing key; provision the key with secret provisioning (SECRET_PROVISION_SET_KEY) instead", ErrNoDerivedKey)
	}
	return [16]byte{}, fmt.Errorf("%w: platform %q", ErrNoDerivedKey, platform)
}
