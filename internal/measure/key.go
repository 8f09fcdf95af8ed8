package measure

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
)

// KeyBits and KeyExponent are the only RSA parameters accepted, as for
// Gramine's SGX enclave signing keys (SIGSTRUCT requires them).
const (
	KeyBits     = 3072
	KeyExponent = 3
)

// ErrBadKey reports a signing key that is not RSA-3072 with e = 3.
var ErrBadKey = errors.New("signing key must be RSA-3072 with public exponent 3 (create one with nacre gen-key)")

// GenerateKey creates an RSA-3072 key with public exponent 3, reading
// entropy from r (crypto/rand.Reader if nil). crypto/rsa only generates
// e = 65537 keys, so the primes are chosen here with gcd(e, p-1) = 1.
func GenerateKey(r io.Reader) (*rsa.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	e := big.NewInt(KeyExponent)
	one := big.NewInt(1)
	for {
		p, err := safePrime(r, e)
		if err != nil {
			return nil, err
		}
		q, err := safePrime(r, e)
		if err != nil {
			return nil, err
		}
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != KeyBits {
			continue
		}
		pm1 := new(big.Int).Sub(p, one)
		qm1 := new(big.Int).Sub(q, one)
		phi := new(big.Int).Mul(pm1, qm1)
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		if p.Cmp(q) < 0 {
			p, q = q, p // PKCS#1 convention: p > q
		}
		key := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: n, E: KeyExponent},
			D:         d,
			Primes:    []*big.Int{p, q},
		}
		key.Precompute()
		if err := key.Validate(); err != nil {
			return nil, fmt.Errorf("generated key failed validation: %w", err)
		}
		return key, nil
	}
}

// safePrime returns a 1536-bit prime p with gcd(e, p-1) = 1.
func safePrime(r io.Reader, e *big.Int) (*big.Int, error) {
	one := big.NewInt(1)
	for {
		p, err := rand.Prime(r, KeyBits/2)
		if err != nil {
			return nil, fmt.Errorf("generating prime: %w", err)
		}
		if new(big.Int).GCD(nil, nil, e, new(big.Int).Sub(p, one)).Cmp(one) == 0 {
			return p, nil
		}
	}
}

// CheckKey returns ErrBadKey (wrapped) unless pub is RSA-3072 with e = 3.
func CheckKey(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return ErrBadKey
	}
	if pub.N.BitLen() != KeyBits || pub.E != KeyExponent {
		return fmt.Errorf("%w: got %d bits, e = %d", ErrBadKey, pub.N.BitLen(), pub.E)
	}
	return nil
}

// MarshalKey encodes key as a PEM "RSA PRIVATE KEY" block (PKCS#1), like
// gramine-sgx-gen-private-key.
func MarshalKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// ParseKey decodes a PEM private key, PKCS#1 ("RSA PRIVATE KEY") or PKCS#8
// ("PRIVATE KEY"), and checks it is RSA-3072 with e = 3. Encrypted keys are
// not supported.
func ParseKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found: expected an \"RSA PRIVATE KEY\" or \"PRIVATE KEY\" PEM file")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		if _, enc := block.Headers["Proc-Type"]; enc {
			return nil, errors.New("encrypted PEM keys are not supported: decrypt it first (openssl rsa -in KEY -out PLAIN)")
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PKCS#1 key: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PKCS#8 key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: got a %T key", ErrBadKey, k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key: expected \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
	if err := CheckKey(&key.PublicKey); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadKey reads and parses a PEM private key file.
func LoadKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, nil
}
