package measure

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nacre-tee/nacre/internal/manifest"
)

// Errors callers branch on.
var (
	// ErrNotSigned: the file has no "#nacre-signature" trailer.
	ErrNotSigned = errors.New("manifest is not signed")
	// ErrBadSignature: the trailer is malformed or its signature does not
	// verify.
	ErrBadSignature = errors.New("bad manifest signature")
	// ErrMeasurementMismatch: the body does not hash to the signed
	// measurement, i.e. the manifest was modified after signing.
	ErrMeasurementMismatch = errors.New("manifest measurement mismatch")
)

// trailerPrefix starts the final line of a signed manifest.
const trailerPrefix = "#nacre-signature v1 "

// SignOptions configures Sign.
type SignOptions struct {
	// Date is written into the signature, "YYYY-MM-DD" with any digits
	// ("0000-00-00" for reproducible builds). Empty means today (UTC).
	Date string
	// ChunkIndexSHA256, if set, is the digest of the trusted files'
	// chunk-index sidecar (the SHA-256 of the whole file for a version 1
	// index, of its head for version 2: docs/spec/chunk-index.md); it is
	// covered by the signature.
	ChunkIndexSHA256 *[32]byte
	// Now returns the current time for the default date (time.Now if nil).
	Now func() time.Time
}

// Signed is a verified signed manifest.
type Signed struct {
	Manifest         *manifest.Manifest
	Body             []byte   // canonical TOML, exactly as measured
	Measurement      [32]byte // SHA-256("nacre manifest measurement v1\x00" || Body)
	Signer           [32]byte // SHA-256 of the 384-byte little-endian modulus (= Gramine MRSIGNER)
	ISVProdID        uint16
	ISVSVN           uint16
	Debug            bool
	Date             string
	ChunkIndexSHA256 *[32]byte
}

// Sign returns the signed-manifest file for m: its canonical TOML followed by
// the signature trailer. Every trusted file must already have a sha256 (call
// m.ExpandTrustedFiles first).
func Sign(m *manifest.Manifest, key *rsa.PrivateKey, opts SignOptions) ([]byte, error) {
	if err := CheckKey(&key.PublicKey); err != nil {
		return nil, err
	}
	for _, tf := range m.TrustedFiles {
		if tf.SHA256 == "" {
			return nil, fmt.Errorf("signing %s: trusted file %s has no sha256: expand and hash trusted files first", m.File, tf.URI)
		}
	}
	date := opts.Date
	if date == "" {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		date = now().UTC().Format("2006-01-02")
	}
	if err := checkDate(date); err != nil {
		return nil, fmt.Errorf("signing %s: %w", m.File, err)
	}
	body, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", m.File, err)
	}
	// What is measured must be exactly what run will read back.
	back, err := manifest.Parse(m.File, body)
	if err != nil {
		return nil, fmt.Errorf("signing %s: canonical form does not parse back (please report this): %w", m.File, err)
	}
	s := &sigstruct{
		measurement: Measure(body),
		isvProdID:   back.SGX.ISVProdID,
		isvSVN:      back.SGX.ISVSVN,
		debug:       back.SGX.Debug,
		date:        date,
		chunkIndex:  opts.ChunkIndexSHA256,
		modulus:     key.N,
	}
	signed := s.marshalSigned()
	digest := sha256.Sum256(signed)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", m.File, err)
	}
	var out bytes.Buffer
	out.Write(body)
	out.WriteString(trailerPrefix)
	out.WriteString(base64.StdEncoding.EncodeToString(append(signed, sig...)))
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// split separates body and trailer payload; ok is false if there is no
// trailer line.
func split(data []byte) (body []byte, payload string, ok bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, "", false
	}
	start := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	last := data[start : len(data)-1]
	p, ok := bytes.CutPrefix(last, []byte(trailerPrefix))
	if !ok {
		return nil, "", false
	}
	return data[:start], string(p), true
}

// IsSigned reports whether data ends with a nacre signature trailer line
// (it does not verify anything).
func IsSigned(data []byte) bool {
	_, _, ok := split(data)
	return ok
}

// Open verifies a signed manifest: trailer structure, RSA signature,
// measurement of the body, and consistency of the signed fields with the
// body; then parses the body. file names the manifest in messages.
func Open(file string, data []byte) (*Signed, error) { return open(file, data, false) }

// OpenOwned is Open for a caller that hands data over and never changes it
// afterwards (manifest.ParseOwned): the manifest may share its bytes.
func OpenOwned(file string, data []byte) (*Signed, error) { return open(file, data, true) }

func open(file string, data []byte, owned bool) (*Signed, error) {
	body, payload, ok := split(data)
	if !ok {
		if bytes.HasPrefix(data, []byte("#nacre-signature")) || bytes.Contains(data, []byte("\n#nacre-signature")) {
			return nil, fmt.Errorf("%s: %w: the signature line is not the file's last line ending in a newline (was the file edited after signing? re-run nacre sign)", file, ErrBadSignature)
		}
		return nil, fmt.Errorf("%s: %w: no \"#nacre-signature\" line; sign it with nacre sign", file, ErrNotSigned)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: signature line is not valid base64: %v; re-run nacre sign", file, ErrBadSignature, err)
	}
	s, err := parseSigstruct(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w; re-run nacre sign", file, ErrBadSignature, err)
	}
	pub := &rsa.PublicKey{N: s.modulus, E: KeyExponent}
	digest := sha256.Sum256(raw[:signedLen])
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], s.signature); err != nil {
		return nil, fmt.Errorf("%s: %w: the signature does not verify (the signature line was altered); re-run nacre sign", file, ErrBadSignature)
	}
	meas := Measure(body)
	if meas != s.measurement {
		return nil, fmt.Errorf("signed manifest %s was modified after signing: %w (body measures %x, signature says %x); re-run nacre sign", file, ErrMeasurementMismatch, meas, s.measurement)
	}
	parse := manifest.Parse
	if owned {
		parse = manifest.ParseOwned
	}
	m, err := parse(file, body)
	if err != nil {
		return nil, fmt.Errorf("signed manifest %s: %w", file, err)
	}
	if m.SGX.ISVProdID != s.isvProdID || m.SGX.ISVSVN != s.isvSVN || m.SGX.Debug != s.debug {
		return nil, fmt.Errorf("%s: %w: sgx.isvprodid/isvsvn/debug in the body differ from the signed values; re-run nacre sign", file, ErrBadSignature)
	}
	for _, tf := range m.TrustedFiles {
		if tf.SHA256 == "" {
			return nil, fmt.Errorf("signed manifest %s: trusted file %s has no sha256; re-run nacre sign", file, tf.URI)
		}
	}
	return &Signed{
		Manifest:         m,
		Body:             body,
		Measurement:      meas,
		Signer:           SignerOf(s.modulus),
		ISVProdID:        s.isvProdID,
		ISVSVN:           s.isvSVN,
		Debug:            s.debug,
		Date:             s.date,
		ChunkIndexSHA256: s.chunkIndex,
	}, nil
}
