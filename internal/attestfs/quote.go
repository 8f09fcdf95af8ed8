package attestfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nacre-tee/nacre/internal/tee"
)

// QuoteMagic starts every nacre quote (the default content of
// /dev/attestation/quote). Verifiers recognize the format by it.
const QuoteMagic = "nacre-quote-v1\n"

// Platform codes in a nacre quote (byte 15).
const (
	quotePlatformTDX = 1
	quotePlatformSNP = 2
	quotePlatformSim = 3
)

// MaxQuoteBlob bounds the platform evidence and the aux data in a nacre
// quote: configfs-tsm outblobs are at most 32 KiB, and SNP certificate
// tables a few KiB.
const MaxQuoteBlob = 64 << 10

// quoteHeader is magic, platform byte and the claims.
const quoteHeader = len(QuoteMagic) + 1 + tee.ClaimsSize

// ErrQuote reports bytes that are not a well-formed nacre quote.
var ErrQuote = errors.New("malformed nacre quote")

// EncodeQuote encodes evidence produced by tee.Attest (Evidence.Claims set)
// as a nacre quote:
//
//	off     len  field
//	0       15   magic "nacre-quote-v1\n"
//	15      1    platform: 1 tdx, 2 snp, 3 sim
//	16      152  nacre claims (tee.Claims encoding; the platform signed SHA-512 of them)
//	168     4    n, length of the platform evidence (big-endian, 1..65536)
//	172     n    platform evidence (tee.Evidence.Blob): TDX quote, SNP report, simulated report
//	172+n   4    m, length of aux (big-endian, 0..65536)
//	176+n   m    aux (tee.Evidence.Aux): SNP certificate table, else empty
//
// Nothing may follow aux.
func EncodeQuote(ev *tee.Evidence) ([]byte, error) {
	code, err := quotePlatformCode(ev.Platform)
	if err != nil {
		return nil, err
	}
	if len(ev.Claims) != tee.ClaimsSize {
		return nil, fmt.Errorf("%w: evidence carries %d bytes of claims, want %d (use tee.Attest)", ErrQuote, len(ev.Claims), tee.ClaimsSize)
	}
	if len(ev.Blob) == 0 || len(ev.Blob) > MaxQuoteBlob || len(ev.Aux) > MaxQuoteBlob {
		return nil, fmt.Errorf("%w: evidence of %d bytes and aux of %d bytes (evidence must be 1..%d bytes, aux at most %d)", ErrQuote, len(ev.Blob), len(ev.Aux), MaxQuoteBlob, MaxQuoteBlob)
	}
	b := make([]byte, 0, quoteHeader+8+len(ev.Blob)+len(ev.Aux))
	b = append(b, QuoteMagic...)
	b = append(b, code)
	b = append(b, ev.Claims...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ev.Blob)))
	b = append(b, ev.Blob...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ev.Aux)))
	return append(b, ev.Aux...), nil
}

// ParseQuote decodes a nacre quote into the evidence a tee/ratls evidence
// verifier takes. Evidence.ReportData is SHA-512 of the claims, i.e. what the
// platform must have signed; it is not checked here. A verifier must verify
// the evidence and then call tee.CheckBinding(ev.Claims, verified.ReportData).
func ParseQuote(b []byte) (*tee.Evidence, error) {
	if len(b) < quoteHeader+4 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrQuote, len(b), quoteHeader+4)
	}
	if !bytes.HasPrefix(b, []byte(QuoteMagic)) {
		return nil, fmt.Errorf("%w: bad magic %q (want %q)", ErrQuote, b[:len(QuoteMagic)], QuoteMagic)
	}
	ev := &tee.Evidence{}
	switch b[len(QuoteMagic)] {
	case quotePlatformTDX:
		ev.Platform = tee.PlatformTDX
	case quotePlatformSNP:
		ev.Platform = tee.PlatformSNP
	case quotePlatformSim:
		ev.Platform = tee.PlatformSim
	default:
		return nil, fmt.Errorf("%w: unknown platform code %d at offset 15", ErrQuote, b[len(QuoteMagic)])
	}
	claims := b[len(QuoteMagic)+1 : quoteHeader]
	c, err := tee.ParseClaims(claims)
	if err != nil {
		return nil, fmt.Errorf("%w: claims at offset 16: %w", ErrQuote, err)
	}
	ev.Claims = bytes.Clone(claims)
	ev.ReportData = c.ReportData()

	rest := b[quoteHeader:]
	blob, rest, err := lengthPrefixed(rest, quoteHeader, "platform evidence")
	if err != nil {
		return nil, err
	}
	if len(blob) == 0 {
		return nil, fmt.Errorf("%w: empty platform evidence", ErrQuote)
	}
	off := quoteHeader + 4 + len(blob)
	if len(rest) < 4 {
		return nil, fmt.Errorf("%w: %d bytes end inside the aux length at offset %d", ErrQuote, len(b), off)
	}
	aux, rest, err := lengthPrefixed(rest, off, "aux")
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after aux", ErrQuote, len(rest))
	}
	ev.Blob = bytes.Clone(blob)
	if len(aux) > 0 {
		ev.Aux = bytes.Clone(aux)
	}
	return ev, nil
}

// lengthPrefixed splits a 4-byte big-endian length and that many bytes off
// b; off is b's offset in the quote, for error messages.
func lengthPrefixed(b []byte, off int, what string) (field, rest []byte, err error) {
	n := binary.BigEndian.Uint32(b)
	if n > MaxQuoteBlob {
		return nil, nil, fmt.Errorf("%w: %s length %d at offset %d exceeds %d", ErrQuote, what, n, off, MaxQuoteBlob)
	}
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes at offset %d is truncated (%d bytes left)", ErrQuote, what, n, off+4, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

func quotePlatformCode(p string) (byte, error) {
	switch p {
	case tee.PlatformTDX:
		return quotePlatformTDX, nil
	case tee.PlatformSNP:
		return quotePlatformSNP, nil
	case tee.PlatformSim:
		return quotePlatformSim, nil
	}
	return 0, fmt.Errorf("%w: no quote format for platform %q (want tdx, snp or sim)", ErrQuote, p)
}
