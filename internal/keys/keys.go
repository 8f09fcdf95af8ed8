// Package keys owns the encryption keys of one shield instance: the named
// 16-byte wrap keys (KDKs) that encrypted mounts use, as Gramine keeps them
// for `key_name` / `fs.insecure__keys.<name>` / `/dev/attestation/keys/<name>`.
//
// A Store lives in nacre's parent process, so every process of the
// application sees the same keys (Gramine's children inherit them on fork).
// Keys come from the manifest (fs.insecure__keys), secret provisioning, a
// TEE-derived key, or a write by the application to
// /dev/attestation/keys/<name> (see ParseWrite).
//
// A name can be declared (known, because a mount or the manifest names it)
// before it has a value: Gramine lists such keys in /dev/attestation/keys,
// reads them as empty, and refuses writes to names that were never declared.
package keys

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Size is the length of every key: an AES-128 key derivation key.
const Size = 16

var (
	// ErrBadWrite: a write to /dev/attestation/keys/<name> was not exactly
	// 16 bytes (Gramine answers EACCES).
	ErrBadWrite = errors.New("a key must be written as exactly 16 raw bytes in one write")
	// ErrBadHex: a hex key is not 32 hexadecimal characters.
	ErrBadHex = errors.New("a hex key must be exactly 32 hexadecimal characters (16 bytes)")
)

// Store maps key names to keys. The zero value is not usable; use New.
// All methods are safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	keys    map[string]*[Size]byte // nil value: declared but not set
	changed chan struct{}
}

// New returns an empty Store.
func New() *Store {
	return &Store{keys: map[string]*[Size]byte{}, changed: make(chan struct{})}
}

// Declare makes name known without giving it a value (an encrypted mount
// names it). Declaring a name that has a value keeps the value.
func (s *Store) Declare(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; !ok {
		s.keys[name] = nil
	}
}

// Declared reports whether name was declared or set.
func (s *Store) Declared(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[name]
	return ok
}

// Set gives name the value key (declaring it if needed) and wakes every
// waiter on Changed.
func (s *Store) Set(name string, key [Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key
	s.keys[name] = &k
	close(s.changed)
	s.changed = make(chan struct{})
}

// Get returns the value of name and whether it is set.
func (s *Store) Get(name string) ([Size]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[name]
	if k == nil {
		return [Size]byte{}, false
	}
	return *k, true
}

// Names returns every declared or set name, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.keys))
	for n := range s.keys {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Changed returns a channel that is closed at the next Set. Take it before
// checking the key to wait without missing an update:
//
//	for {
//		ch := store.Changed()
//		if k, ok := store.Get(name); ok { return k }
//		<-ch
//	}
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// ParseWrite interprets the buffer of one write(2) to
// /dev/attestation/keys/<name> the way Gramine does: it must be exactly 16
// raw bytes (no hex, no newline); anything else fails with ErrBadWrite, for
// which the caller answers EACCES.
func ParseWrite(data []byte) ([Size]byte, error) {
	var k [Size]byte
	if len(data) != Size {
		return k, fmt.Errorf("keys: write of %d bytes: %w", len(data), ErrBadWrite)
	}
	copy(k[:], data)
	return k, nil
}

// ParseHex parses a key written as 32 hex characters (either case), the
// syntax of fs.insecure__keys.<name> in the manifest.
func ParseHex(s string) ([Size]byte, error) {
	var k [Size]byte
	if len(s) != 2*Size {
		return k, fmt.Errorf("keys: hex key of %d characters: %w", len(s), ErrBadHex)
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("keys: hex key: %w (%v)", ErrBadHex, err)
	}
	return k, nil
}
