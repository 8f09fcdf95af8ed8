package measure

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// Sigstruct layout, version 1 (all integers little-endian); see
// docs/spec/measurement.md. The signature covers bytes [0x000:0x1E4).
const (
	offMagic       = 0x000 // 8  "NACRESIG"
	offVersion     = 0x008 // 4  = 1
	offFlags       = 0x00C // 4  bit 0 debug, bit 1 chunk index present
	offMeasurement = 0x010 // 32
	offISVProdID   = 0x030 // 2
	offISVSVN      = 0x032 // 2
	offDate        = 0x034 // 10 ASCII "YYYY-MM-DD"
	offReserved    = 0x03E // 2  zero
	offChunkIndex  = 0x040 // 32 zero when absent
	offExponent    = 0x060 // 4  = 3
	offModulus     = 0x064 // 384 little-endian
	signedLen      = 0x1E4 // 484
	sigLen         = 384   // RSASSA-PKCS1-v1_5 signature, big-endian octet string
	sigstructLen   = signedLen + sigLen

	sigstructVersion = 1
	flagDebug        = 1 << 0
	flagChunkIndex   = 1 << 1
)

var sigMagic = []byte("NACRESIG")

// sigstruct is the decoded trailer.
type sigstruct struct {
	measurement [32]byte
	isvProdID   uint16
	isvSVN      uint16
	debug       bool
	date        string
	chunkIndex  *[32]byte
	modulus     *big.Int
	signature   []byte
}

// marshalSigned encodes the signed part (without the signature).
func (s *sigstruct) marshalSigned() []byte {
	b := make([]byte, signedLen)
	copy(b[offMagic:], sigMagic)
	binary.LittleEndian.PutUint32(b[offVersion:], sigstructVersion)
	var flags uint32
	if s.debug {
		flags |= flagDebug
	}
	if s.chunkIndex != nil {
		flags |= flagChunkIndex
		copy(b[offChunkIndex:], s.chunkIndex[:])
	}
	binary.LittleEndian.PutUint32(b[offFlags:], flags)
	copy(b[offMeasurement:], s.measurement[:])
	binary.LittleEndian.PutUint16(b[offISVProdID:], s.isvProdID)
	binary.LittleEndian.PutUint16(b[offISVSVN:], s.isvSVN)
	copy(b[offDate:offDate+10], s.date)
	binary.LittleEndian.PutUint32(b[offExponent:], KeyExponent)
	copy(b[offModulus:offModulus+384], littleEndian384(s.modulus))
	return b
}

// littleEndian384 returns n as 384 little-endian bytes (n must fit).
func littleEndian384(n *big.Int) []byte {
	be := n.FillBytes(make([]byte, 384))
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func parseSigstruct(b []byte) (*sigstruct, error) {
	if len(b) != sigstructLen {
		return nil, fmt.Errorf("signature trailer is %d bytes, want %d", len(b), sigstructLen)
	}
	if !bytes.Equal(b[offMagic:offMagic+8], sigMagic) {
		return nil, errors.New("signature trailer has a bad magic")
	}
	if v := binary.LittleEndian.Uint32(b[offVersion:]); v != sigstructVersion {
		return nil, fmt.Errorf("signature trailer version %d is not supported (want %d)", v, sigstructVersion)
	}
	flags := binary.LittleEndian.Uint32(b[offFlags:])
	if flags&^(flagDebug|flagChunkIndex) != 0 {
		return nil, fmt.Errorf("signature trailer has unknown flags %#x", flags)
	}
	if b[offReserved] != 0 || b[offReserved+1] != 0 {
		return nil, errors.New("signature trailer has non-zero reserved bytes")
	}
	if e := binary.LittleEndian.Uint32(b[offExponent:]); e != KeyExponent {
		return nil, fmt.Errorf("%w: trailer names exponent %d", ErrBadKey, e)
	}
	s := &sigstruct{
		isvProdID: binary.LittleEndian.Uint16(b[offISVProdID:]),
		isvSVN:    binary.LittleEndian.Uint16(b[offISVSVN:]),
		debug:     flags&flagDebug != 0,
		date:      string(b[offDate : offDate+10]),
		signature: append([]byte(nil), b[signedLen:]...),
	}
	copy(s.measurement[:], b[offMeasurement:])
	if err := checkDate(s.date); err != nil {
		return nil, fmt.Errorf("signature trailer: %w", err)
	}
	var ci [32]byte
	copy(ci[:], b[offChunkIndex:offChunkIndex+32])
	if flags&flagChunkIndex != 0 {
		s.chunkIndex = &ci
	} else if ci != [32]byte{} {
		return nil, errors.New("signature trailer has a chunk index hash but no chunk index flag")
	}
	le := b[offModulus : offModulus+384]
	be := make([]byte, 384)
	for i := range le {
		be[383-i] = le[i]
	}
	s.modulus = new(big.Int).SetBytes(be)
	if s.modulus.BitLen() != KeyBits {
		return nil, fmt.Errorf("%w: trailer modulus has %d bits", ErrBadKey, s.modulus.BitLen())
	}
	return s, nil
}

// checkDate accepts "YYYY-MM-DD" with any digits (like gramine-sgx-sign, so
// "0000-00-00" can be used for reproducible builds).
func checkDate(d string) error {
	if len(d) != 10 || d[4] != '-' || d[7] != '-' {
		return fmt.Errorf("date %q is not YYYY-MM-DD", d)
	}
	for i, c := range []byte(d) {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return fmt.Errorf("date %q is not YYYY-MM-DD", d)
		}
	}
	return nil
}

// measurementPrefix separates nacre manifest measurements from every other
// use of SHA-256.
const measurementPrefix = "nacre manifest measurement v1\x00"

// Measure returns the measurement of a signed-manifest body:
// SHA-256(measurementPrefix || body).
func Measure(body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(measurementPrefix))
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// SignerOf returns the signer identity of a key: SHA-256 of the 384-byte
// little-endian modulus, the same value as Gramine's MRSIGNER.
func SignerOf(pub *big.Int) [32]byte {
	return sha256.Sum256(littleEndian384(pub))
}
