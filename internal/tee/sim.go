package tee

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// SimMagic starts every simulated report. It is deliberately loud: nothing
// about simulated evidence is secure, anyone with the key file can forge it.
const SimMagic = "NACRE-SIM-INSECURE"

// SimStatus is the verdict status of accepted simulated evidence.
const SimStatus = "INSECURE-SIMULATED"

// Simulated report layout (version 1, big-endian):
//
//	off  len
//	  0   18  magic "NACRE-SIM-INSECURE"
//	 18    2  version = 1
//	 20    2  flags (bit 0: debug)
//	 22    2  product id
//	 24    2  security version (svn)
//	 26    8  timestamp, Unix nanoseconds (int64)
//	 34   32  measurement
//	 66   32  signer
//	 98   64  report data
//	162   32  key id = SHA-256(DER SubjectPublicKeyInfo of the signing key)
//	194    2  signature length n (1..128)
//	196    n  ECDSA P-256 signature (ASN.1 DER) over SHA-256(bytes 0..194)
const (
	simVersion    = 1
	simSignedSize = 194
	simMaxSig     = 128
	// SimFlagDebug marks a simulated debug TEE.
	SimFlagDebug = 1
)

// ErrSimReport reports malformed or forged simulated evidence.
var ErrSimReport = errors.New("invalid simulated (INSECURE) report")

// ErrUntrustedSimKey: the simulated evidence is signed by a key the verifier
// was not told to trust.
var ErrUntrustedSimKey = errors.New("simulated evidence is signed by a key that is not explicitly trusted")

// SimReport is a decoded simulated report.
type SimReport struct {
	Version     uint16
	Flags       uint16
	ProductID   uint16
	SVN         uint16
	Timestamp   time.Time
	Measurement [32]byte
	Signer      [32]byte
	ReportData  [64]byte
	KeyID       [32]byte
	Signature   []byte
}

func (r *SimReport) signedBytes() []byte {
	b := make([]byte, 0, simSignedSize)
	b = append(b, SimMagic...)
	b = binary.BigEndian.AppendUint16(b, r.Version)
	b = binary.BigEndian.AppendUint16(b, r.Flags)
	b = binary.BigEndian.AppendUint16(b, r.ProductID)
	b = binary.BigEndian.AppendUint16(b, r.SVN)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Timestamp.UnixNano()))
	b = append(b, r.Measurement[:]...)
	b = append(b, r.Signer[:]...)
	b = append(b, r.ReportData[:]...)
	b = append(b, r.KeyID[:]...)
	return b
}

// Marshal encodes r including its signature.
func (r *SimReport) Marshal() []byte {
	b := r.signedBytes()
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Signature)))
	return append(b, r.Signature...)
}

// ParseSimReport decodes a simulated report without checking its signature.
func ParseSimReport(b []byte) (*SimReport, error) {
	if len(b) < simSignedSize+2 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte minimum", ErrSimReport, len(b), simSignedSize+2)
	}
	if !bytes.HasPrefix(b, []byte(SimMagic)) {
		return nil, fmt.Errorf("%w: missing magic %q", ErrSimReport, SimMagic)
	}
	r := &SimReport{}
	p := b[len(SimMagic):]
	r.Version = binary.BigEndian.Uint16(p[0:])
	if r.Version != simVersion {
		return nil, fmt.Errorf("%w: version %d, only %d is known", ErrSimReport, r.Version, simVersion)
	}
	r.Flags = binary.BigEndian.Uint16(p[2:])
	r.ProductID = binary.BigEndian.Uint16(p[4:])
	r.SVN = binary.BigEndian.Uint16(p[6:])
	r.Timestamp = time.Unix(0, int64(binary.BigEndian.Uint64(p[8:]))).UTC()
	copy(r.Measurement[:], p[16:48])
	copy(r.Signer[:], p[48:80])
	copy(r.ReportData[:], p[80:144])
	copy(r.KeyID[:], p[144:176])
	n := int(binary.BigEndian.Uint16(b[simSignedSize:]))
	if n == 0 || n > simMaxSig {
		return nil, fmt.Errorf("%w: signature length %d out of range 1..%d", ErrSimReport, n, simMaxSig)
	}
	if len(b) != simSignedSize+2+n {
		return nil, fmt.Errorf("%w: %d bytes, header says %d", ErrSimReport, len(b), simSignedSize+2+n)
	}
	r.Signature = bytes.Clone(b[simSignedSize+2:])
	return r, nil
}

// SimKeyID is SHA-256 of the DER SubjectPublicKeyInfo of pub.
func SimKeyID(pub *ecdsa.PublicKey) ([32]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(der), nil
}

// DefaultSimKeyPath is ~/.config/nacre/sim-tee-key.pem (per os.UserConfigDir).
func DefaultSimKeyPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("simulated TEE key: %w (set --sim-key)", err)
	}
	return filepath.Join(dir, "nacre", "sim-tee-key.pem"), nil
}

// LoadOrCreateSimKey reads the simulator's ECDSA P-256 key from path,
// creating it (mode 0600, atomically) on first use.
func LoadOrCreateSimKey(path string, rnd io.Reader) (*ecdsa.PrivateKey, error) {
	if k, err := LoadSimKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("simulated TEE key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sim-tee-key-*")
	if err != nil {
		return nil, fmt.Errorf("simulated TEE key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// A comment line before the PEM block (not a PEM header, which OpenSSL
	// would take for encryption parameters).
	_, werr := io.WriteString(tmp, "# nacre simulated TEE key: INSECURE, for tests only\n")
	if werr == nil {
		werr = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("simulated TEE key: write %s: %w", tmp.Name(), werr)
	}
	// Link fails if another process created the key meanwhile: use theirs.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("simulated TEE key: %w", err)
	}
	return LoadSimKey(path)
}

// LoadSimKey reads a PEM (PKCS#8 or SEC 1) ECDSA P-256 private key.
func LoadSimKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("simulated TEE key %s: no PEM block", path)
	}
	var k any
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		err = fmt.Errorf("PEM type %q, want PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("simulated TEE key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("simulated TEE key %s: not an ECDSA P-256 key", path)
	}
	return ek, nil
}

// LoadSimPublicKey reads a PEM public key (or private key, whose public half
// is used) that a verifier should trust for simulated evidence.
func LoadSimPublicKey(path string) (*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("simulated TEE public key %s: no PEM block", path)
	}
	if blk.Type != "PUBLIC KEY" {
		k, err := LoadSimKey(path)
		if err != nil {
			return nil, err
		}
		return &k.PublicKey, nil
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("simulated TEE public key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("simulated TEE public key %s: not an ECDSA P-256 key", path)
	}
	return ek, nil
}

// SimOptions configure the simulated platform.
type SimOptions struct {
	Key     *ecdsa.PrivateKey // if nil, loaded/created at KeyPath
	KeyPath string            // default DefaultSimKeyPath()
	// Measurement, Signer, ProductID, SVN and Debug are what the simulated
	// TEE reports as the identity of the code it runs.
	Measurement, Signer [32]byte
	ProductID, SVN      uint16
	Debug               bool
	Now                 func() time.Time
	Rand                io.Reader
	Logger              *slog.Logger
}

// Sim is the simulated TEE. Its evidence proves nothing.
type Sim struct {
	o     SimOptions
	keyID [32]byte
}

// NewSim sets up the simulator, creating its key on first use.
func NewSim(o SimOptions) (*Sim, error) {
	if o.Key == nil {
		path := o.KeyPath
		if path == "" {
			var err error
			if path, err = DefaultSimKeyPath(); err != nil {
				return nil, err
			}
		}
		k, err := LoadOrCreateSimKey(path, o.Rand)
		if err != nil {
			return nil, err
		}
		o.Key = k
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	id, err := SimKeyID(&o.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	logger(o.Logger).Warn("INSECURE: using the simulated TEE; its evidence proves nothing and must never be trusted in production", "key_id", hex.EncodeToString(id[:8]))
	return &Sim{o: o, keyID: id}, nil
}

func (s *Sim) Name() string { return PlatformSim }

// PublicKey is the key a verifier must be told to trust.
func (s *Sim) PublicKey() *ecdsa.PublicKey { return &s.o.Key.PublicKey }

func (s *Sim) Evidence(ctx context.Context, rd [64]byte) (*Evidence, error) {
	r := &SimReport{
		Version:     simVersion,
		ProductID:   s.o.ProductID,
		SVN:         s.o.SVN,
		Timestamp:   s.o.Now().UTC(),
		Measurement: s.o.Measurement,
		Signer:      s.o.Signer,
		ReportData:  rd,
		KeyID:       s.keyID,
	}
	if s.o.Debug {
		r.Flags |= SimFlagDebug
	}
	h := sha256.Sum256(r.signedBytes())
	sig, err := ecdsa.SignASN1(s.o.Rand, s.o.Key, h[:])
	if err != nil {
		return nil, fmt.Errorf("simulated TEE: sign: %w", err)
	}
	r.Signature = sig
	return &Evidence{Platform: PlatformSim, Blob: r.Marshal(), ReportData: rd}, nil
}

// SimVerifier accepts simulated evidence signed by one of Trusted, and
// nothing else. Its verdicts always say INSECURE-SIMULATED.
type SimVerifier struct {
	Trusted []*ecdsa.PublicKey
	Logger  *slog.Logger
}

// VerifyEvidence checks a simulated report's signature against the trusted keys.
func (v *SimVerifier) VerifyEvidence(_ context.Context, ev *Evidence) (*Verified, error) {
	if ev.Platform != PlatformSim {
		return nil, fmt.Errorf("simulated-TEE verifier cannot verify %q evidence", ev.Platform)
	}
	r, err := ParseSimReport(ev.Blob)
	if err != nil {
		return nil, err
	}
	var key *ecdsa.PublicKey
	for _, k := range v.Trusted {
		if id, err := SimKeyID(k); err == nil && id == r.KeyID {
			key = k
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w (key id %x; trust the simulator's public key explicitly, e.g. trusted_sim_keys in a secret-server policy)", ErrUntrustedSimKey, r.KeyID[:8])
	}
	h := sha256.Sum256(r.signedBytes())
	if !ecdsa.VerifyASN1(key, h[:], r.Signature) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrSimReport)
	}
	logger(v.Logger).Warn("INSECURE: accepting simulated TEE evidence; it proves nothing", "status", SimStatus)
	return &Verified{
		Platform:    PlatformSim,
		Status:      SimStatus,
		Insecure:    true,
		ReportData:  r.ReportData,
		Debug:       r.Flags&SimFlagDebug != 0,
		Measurement: bytes.Clone(r.Measurement[:]),
		Signer:      bytes.Clone(r.Signer[:]),
		Timestamp:   r.Timestamp,
		Details: map[string]string{
			"product_id": fmt.Sprint(r.ProductID),
			"svn":        fmt.Sprint(r.SVN),
		},
	}, nil
}
