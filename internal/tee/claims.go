package tee

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// claimsMagic starts every encoded Claims; it fixes the version and keeps
// the 152-byte structure from being mistaken for anything else.
const claimsMagic = "nacre-claims-v1\n"

// ClaimsSize is the length of an encoded Claims.
const ClaimsSize = len(claimsMagic) + 32 + 32 + 64 + 8

// ErrClaims reports a malformed claims structure.
var ErrClaims = errors.New("malformed nacre claims")

// Claims is what nacre binds into the platform's 64 bytes of report data:
// the signed manifest's measurement and signer, the caller's own 64 bytes
// (for RA-TLS: SHA-256 of the certificate's public key, zero-padded) and the
// time the evidence was requested (for freshness checks).
//
// Encoding (big-endian, fixed size 152 bytes):
//
//	"nacre-claims-v1\n" | measurement[32] | signer[32] | user_data[64] | issued_at (int64 Unix seconds)
//
// and report data = SHA-512(encoding).
type Claims struct {
	Measurement [32]byte
	Signer      [32]byte
	UserData    [64]byte
	IssuedAt    time.Time
}

// Encode returns the canonical 152-byte encoding.
func (c Claims) Encode() []byte {
	b := make([]byte, 0, ClaimsSize)
	b = append(b, claimsMagic...)
	b = append(b, c.Measurement[:]...)
	b = append(b, c.Signer[:]...)
	b = append(b, c.UserData[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(c.IssuedAt.Unix()))
}

// ReportData is SHA-512 of the encoding: the value the platform signs.
func (c Claims) ReportData() [64]byte { return sha512.Sum512(c.Encode()) }

// ParseClaims decodes an encoded Claims, rejecting any other length or magic.
func ParseClaims(b []byte) (Claims, error) {
	var c Claims
	if len(b) != ClaimsSize {
		return c, fmt.Errorf("%w: %d bytes, want %d", ErrClaims, len(b), ClaimsSize)
	}
	if !bytes.HasPrefix(b, []byte(claimsMagic)) {
		return c, fmt.Errorf("%w: bad magic %q", ErrClaims, b[:len(claimsMagic)])
	}
	p := b[len(claimsMagic):]
	copy(c.Measurement[:], p[0:32])
	copy(c.Signer[:], p[32:64])
	copy(c.UserData[:], p[64:128])
	c.IssuedAt = time.Unix(int64(binary.BigEndian.Uint64(p[128:136])), 0).UTC()
	return c, nil
}

// CheckBinding verifies that ev carries claims and that the platform-signed
// report data (rd, from the verifier) equals their hash.
func CheckBinding(claims []byte, rd [64]byte) (Claims, error) {
	c, err := ParseClaims(claims)
	if err != nil {
		return c, err
	}
	if c.ReportData() != rd {
		return c, fmt.Errorf("%w: report data signed by the platform is not SHA-512 of the attached claims (evidence and claims do not belong together)", ErrClaims)
	}
	return c, nil
}
