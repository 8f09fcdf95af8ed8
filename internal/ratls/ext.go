package ratls

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/nacre-tee/nacre/internal/tee"
)

// OIDs of the evidence extensions.
var (
	// OIDLegacyQuote is what Gramine actually writes for its legacy quote
	// extension: it passes the full TLV of 1.2.840.113741.1337.6 as the OID
	// content, which a strict parser reads as 0.6.9.42.840.113741.1337.6.
	OIDLegacyQuote = asn1.ObjectIdentifier{0, 6, 9, 42, 840, 113741, 1337, 6}
	// OIDTaggedEvidence is TCG DICE tagged evidence (conceptual message wrapper).
	OIDTaggedEvidence = asn1.ObjectIdentifier{2, 23, 133, 5, 4, 9}
)

// CBOR tags identifying the evidence format inside the tagged-evidence
// extension.
const (
	TagGramineSGXQuote = 60000    // Gramine: SGX quote
	TagIntelTEEQuote   = 0x1a7501 // rats-tls: Intel TEE (SGX/TDX) quote
	TagSNPReport       = 0x1a7504 // rats-tls: AMD SEV-SNP attestation report
	TagNacreSim        = 0x6e6163 // nacre-private: simulated, INSECURE
)

// Claim names in the tagged-evidence claims map.
const (
	ClaimPubkeyHash  = "pubkey-hash"  // Gramine: CBOR [hash-alg-id, hash] in a byte string
	ClaimNacreClaims = "nacre-claims" // nacre: tee.Claims encoding (152 bytes)
)

// IANA Named Information hash algorithm ids accepted in pubkey-hash.
const (
	hashSHA256 = 1
	hashSHA384 = 7
	hashSHA512 = 8
)

// maxExtension bounds an evidence extension: configfs-tsm outblobs are at
// most 32 KiB, plus SNP certificates and claims.
const maxExtension = 64 << 10

// Errors callers may branch on.
var (
	ErrNoEvidence = errors.New("certificate carries no RA-TLS evidence extension")
	ErrExtension  = errors.New("malformed RA-TLS evidence extension")
)

var cborDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements: 16,
		MaxMapPairs:      32,
		MaxNestedLevels:  4,
	}.DecMode()
	if err != nil {
		panic("ratls: internal error: " + err.Error())
	}
	return m
}()

func tagForPlatform(p string) (uint64, error) {
	switch p {
	case tee.PlatformTDX:
		return TagIntelTEEQuote, nil
	case tee.PlatformSNP:
		return TagSNPReport, nil
	case tee.PlatformSim:
		return TagNacreSim, nil
	case tee.PlatformSGX:
		return TagGramineSGXQuote, nil
	}
	return 0, fmt.Errorf("no tagged-evidence format for platform %q", p)
}

// platformOfQuote tells SGX from TDX quotes: v4/v5 quotes carry the TEE type
// (0x81 = TDX) at offset 4; v3 quotes are SGX only.
func platformOfQuote(q []byte) (string, error) {
	if len(q) < 48 {
		return "", fmt.Errorf("%w: %d-byte quote is shorter than its 48-byte header", ErrExtension, len(q))
	}
	switch v := binary.LittleEndian.Uint16(q); v {
	case 3:
		return tee.PlatformSGX, nil
	case 4, 5:
		if binary.LittleEndian.Uint32(q[4:]) == 0x81 {
			return tee.PlatformTDX, nil
		}
		return tee.PlatformSGX, nil
	default:
		return "", fmt.Errorf("%w: unknown quote version %d", ErrExtension, v)
	}
}

// platformOfBlob guesses the platform of a legacy-extension blob, which
// carries no type: simulated reports have a magic, SNP reports are exactly
// 1184 bytes, anything else must be a quote.
func platformOfBlob(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte(tee.SimMagic)):
		return tee.PlatformSim, nil
	case len(b) == 1184 && binary.LittleEndian.Uint32(b) >= 2 && binary.LittleEndian.Uint32(b) <= 5:
		return tee.PlatformSNP, nil
	}
	return platformOfQuote(b)
}

// pubkeyHashClaim is Gramine's "pubkey-hash" value: the serialized CBOR
// array [1, SHA-256(spki)].
func pubkeyHashClaim(spki []byte) []byte {
	h := sha256.Sum256(spki)
	return append([]byte{0x82, hashSHA256, 0x58, 0x20}, h[:]...)
}

// appendBstr appends a CBOR byte string (major type 2) header and b.
func appendHead(out []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(out, major<<5|byte(n))
	case n <= 0xff:
		return append(out, major<<5|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(out, major<<5|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(out, major<<5|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(out, major<<5|27), n)
}

func appendBstr(out, b []byte) []byte { return append(appendHead(out, 2, uint64(len(b))), b...) }
func appendTstr(out []byte, s string) []byte {
	return append(appendHead(out, 3, uint64(len(s))), s...)
}

// encodeClaims is the claims map, hand-encoded in CBOR deterministic order
// (shorter key first). With no nacre claims it is byte-for-byte Gramine's
// 51-byte map.
func encodeClaims(spki, nacreClaims []byte) []byte {
	n := uint64(1)
	if nacreClaims != nil {
		n = 2
	}
	b := appendHead(nil, 5, n)
	b = appendTstr(b, ClaimPubkeyHash)
	b = appendBstr(b, pubkeyHashClaim(spki))
	if nacreClaims != nil {
		b = appendTstr(b, ClaimNacreClaims)
		b = appendBstr(b, nacreClaims)
	}
	return b
}

// encodeTaggedEvidence builds the OID 2.23.133.5.4.9 extension value:
// tag(T, [evidence, claims]) or, for SNP with certificates,
// tag(T, [evidence, claims, auxblob]).
func encodeTaggedEvidence(ev *tee.Evidence, claims []byte) ([]byte, error) {
	tag, err := tagForPlatform(ev.Platform)
	if err != nil {
		return nil, err
	}
	n := uint64(2)
	if len(ev.Aux) > 0 {
		n = 3
	}
	b := appendHead(nil, 6, tag)
	b = appendHead(b, 4, n)
	b = appendBstr(b, ev.Blob)
	b = appendBstr(b, claims)
	if n == 3 {
		b = appendBstr(b, ev.Aux)
	}
	return b, nil
}

// TaggedEvidence is a decoded tagged-evidence extension.
type TaggedEvidence struct {
	Tag      uint64
	Platform string
	Blob     []byte
	Aux      []byte
	// ClaimsRaw is the serialized claims map (hashed for Gramine's binding).
	ClaimsRaw []byte
	// PubkeyHashAlg and PubkeyHash are Gramine's pubkey-hash claim.
	PubkeyHashAlg uint64
	PubkeyHash    []byte
	// NacreClaims is the nacre-claims claim, nil if absent.
	NacreClaims []byte
	// Unknown lists claim names that were ignored.
	Unknown []string
}

// ParseTaggedEvidence decodes the value of the OID 2.23.133.5.4.9 extension.
func ParseTaggedEvidence(v []byte) (*TaggedEvidence, error) {
	if len(v) > maxExtension {
		return nil, fmt.Errorf("%w: tagged evidence of %d bytes exceeds %d", ErrExtension, len(v), maxExtension)
	}
	var raw cbor.RawTag
	if err := cborDec.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("%w: tagged evidence is not a CBOR tag: %v", ErrExtension, err)
	}
	var items [][]byte
	if err := cborDec.Unmarshal(raw.Content, &items); err != nil {
		return nil, fmt.Errorf("%w: tag %d content is not an array of byte strings: %v", ErrExtension, raw.Number, err)
	}
	if len(items) != 2 && len(items) != 3 {
		return nil, fmt.Errorf("%w: tag %d array has %d elements, want 2 (evidence, claims) or 3 (+ auxblob)", ErrExtension, raw.Number, len(items))
	}
	te := &TaggedEvidence{Tag: raw.Number, Blob: items[0], ClaimsRaw: items[1]}
	if len(items) == 3 {
		te.Aux = items[2]
	}
	var err error
	switch raw.Number {
	case TagGramineSGXQuote:
		te.Platform = tee.PlatformSGX
	case TagIntelTEEQuote:
		te.Platform, err = platformOfQuote(te.Blob)
	case TagSNPReport:
		te.Platform = tee.PlatformSNP
	case TagNacreSim:
		te.Platform = tee.PlatformSim
	default:
		err = fmt.Errorf("%w: unknown evidence tag %d", ErrExtension, raw.Number)
	}
	if err != nil {
		return nil, err
	}
	if te.Aux != nil && te.Platform != tee.PlatformSNP {
		return nil, fmt.Errorf("%w: auxblob element is only defined for SNP evidence", ErrExtension)
	}
	var claims map[string]cbor.RawMessage
	if err := cborDec.Unmarshal(te.ClaimsRaw, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims are not a CBOR map with text keys: %v", ErrExtension, err)
	}
	for k, val := range claims {
		switch k {
		case ClaimPubkeyHash:
			var inner []byte
			if err := cborDec.Unmarshal(val, &inner); err != nil {
				return nil, fmt.Errorf("%w: claim %q is not a byte string: %v", ErrExtension, k, err)
			}
			var arr []cbor.RawMessage
			if err := cborDec.Unmarshal(inner, &arr); err != nil || len(arr) != 2 {
				return nil, fmt.Errorf("%w: claim %q is not a serialized [alg, hash] array", ErrExtension, k)
			}
			if err := cborDec.Unmarshal(arr[0], &te.PubkeyHashAlg); err != nil {
				return nil, fmt.Errorf("%w: claim %q: hash algorithm id: %v", ErrExtension, k, err)
			}
			if err := cborDec.Unmarshal(arr[1], &te.PubkeyHash); err != nil {
				return nil, fmt.Errorf("%w: claim %q: hash: %v", ErrExtension, k, err)
			}
		case ClaimNacreClaims:
			if err := cborDec.Unmarshal(val, &te.NacreClaims); err != nil {
				return nil, fmt.Errorf("%w: claim %q is not a byte string: %v", ErrExtension, k, err)
			}
			if te.NacreClaims == nil {
				te.NacreClaims = []byte{}
			}
		default:
			te.Unknown = append(te.Unknown, k)
		}
	}
	if te.PubkeyHash == nil {
		return nil, fmt.Errorf("%w: claims lack %q", ErrExtension, ClaimPubkeyHash)
	}
	return te, nil
}

// checkPubkeyHash compares the pubkey-hash claim with the certificate's
// SubjectPublicKeyInfo.
func (te *TaggedEvidence) checkPubkeyHash(spki []byte) error {
	var want []byte
	switch te.PubkeyHashAlg {
	case hashSHA256:
		h := sha256.Sum256(spki)
		want = h[:]
	case hashSHA384:
		h := sha512.Sum384(spki)
		want = h[:]
	case hashSHA512:
		h := sha512.Sum512(spki)
		want = h[:]
	default:
		return fmt.Errorf("pubkey-hash algorithm %d not supported (want 1, 7 or 8)", te.PubkeyHashAlg)
	}
	if !bytes.Equal(want, te.PubkeyHash) {
		return errors.New("pubkey-hash claim does not match the certificate's public key")
	}
	return nil
}

// gramineReportData is what Gramine binds: SHA-256(data) followed by 32 zero bytes.
func gramineReportData(data []byte) [64]byte {
	var rd [64]byte
	h := sha256.Sum256(data)
	copy(rd[:], h[:])
	return rd
}
