package pf

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// Layout constants of the protected-files format (see docs/spec/pf.md).
const (
	NodeSize       = 4096 // every node, and so the host file, is a multiple of this
	MetaDataSize   = 3072 // plaintext bytes stored inside the metadata node
	PathFieldSize  = 772  // bound path field, NUL-terminated
	MaxPathLen     = PathFieldSize - 1
	attachedData   = 96 // data-node entries per MHT node
	childMHT       = 32 // child-MHT entries per MHT node
	entrySize      = 32 // key (16) + GCM tag (16)
	tagSize        = 16
	fileID         = 0x46505f5346415247 // "GRAFS_PF" little-endian
	majorV1        = 1
	majorV2        = 2
	flagPendingWr  = 0x01                                       // feature_flags bit 0: a flush is in progress
	encMetaSize    = PathFieldSize + 8 + 16 + 16 + MetaDataSize // 3884
	v2EncOffset    = 59
	v1EncOffset    = 58
	recordSize     = 8 + NodeSize // one recovery-journal record
	metaNonceOff   = 10
	metaMACOff     = 42
	metaFlagsOff   = 58
	dataPerMHTSpan = attachedData * NodeSize
)

// nodeNumbers maps a plaintext offset >= MetaDataSize to Gramine's logical
// and physical node numbers: data node d lives in physical node d+2+m where
// m = d/96 is its MHT node, which itself is physical node 1+97*m.
func nodeNumbers(off uint64) (logicalMHT, logicalData, physMHT, physData uint64) {
	logicalData = (off - MetaDataSize) / NodeSize
	logicalMHT = logicalData / attachedData
	physData = logicalData + 2 + logicalMHT
	physMHT = physData - logicalData%attachedData - 1
	return
}

// mhtPhysical is the physical node number of logical MHT node m.
func mhtPhysical(m uint64) uint64 { return 1 + m*(1+attachedData) }

// EncryptedSize is the host file size of a protected file holding size
// plaintext bytes.
func EncryptedSize(size uint64) uint64 {
	if size <= MetaDataSize {
		return NodeSize
	}
	_, _, _, last := nodeNumbers(size - 1)
	return (last + 1) * NodeSize
}

var zeroIV [12]byte

// newGCM builds AES-128-GCM for a one-time key (the IV is always zero, which
// is safe because every key encrypts exactly one message).
func newGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // unreachable: keys are always 16 bytes
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

// sealNode encrypts plain into ct (same length) and returns the tag.
// scratch must have room for len(plain)+16 bytes.
func sealNode(key []byte, plain, ct, scratch []byte) (tag [16]byte) {
	out := newGCM(key).Seal(scratch[:0], zeroIV[:], plain, nil)
	copy(ct, out[:len(plain)])
	copy(tag[:], out[len(plain):])
	return
}

var errMAC = errors.New("GCM tag mismatch")

// sealBuf encrypts plain (NodeSize bytes) into buf[:NodeSize] without an
// intermediate copy; buf has NodeSize+16 bytes and receives the tag at the end.
func sealBuf(key []byte, plain []byte, buf *[NodeSize + tagSize]byte) (tag [16]byte) {
	newGCM(key).Seal(buf[:0], zeroIV[:], plain, nil)
	copy(tag[:], buf[NodeSize:])
	return
}

// openBuf authenticates buf[:NodeSize] (ciphertext) against tag and decrypts
// it into plain, without copying the ciphertext. On failure plain is zeroed.
func openBuf(key, tag []byte, buf *[NodeSize + tagSize]byte, plain []byte) error {
	copy(buf[NodeSize:], tag)
	if _, err := newGCM(key).Open(plain[:0], zeroIV[:], buf[:], nil); err != nil {
		clear(plain)
		return errMAC
	}
	return nil
}

// openNode authenticates and decrypts ct into plain. On failure plain is
// zeroed so no unauthenticated bytes can leak.
func openNode(key []byte, tag []byte, ct, plain, scratch []byte) error {
	buf := append(append(scratch[:0], ct...), tag...)
	if _, err := newGCM(key).Open(plain[:0], zeroIV[:], buf, nil); err != nil {
		clear(plain)
		return errMAC
	}
	return nil
}

// metaHeader is the plaintext part of node 0.
type metaHeader struct {
	major, minor byte
	nonce        [32]byte
	mac          [16]byte
	flags        byte
}

// metaPlain is the decrypted part of node 0.
type metaPlain struct {
	path    [PathFieldSize]byte
	size    uint64
	rootKey [16]byte
	rootMAC [16]byte
	data    [MetaDataSize]byte
}

func (m *metaPlain) marshal(b []byte) {
	copy(b[0:], m.path[:])
	binary.LittleEndian.PutUint64(b[PathFieldSize:], m.size)
	copy(b[PathFieldSize+8:], m.rootKey[:])
	copy(b[PathFieldSize+24:], m.rootMAC[:])
	copy(b[PathFieldSize+40:], m.data[:])
}

func (m *metaPlain) unmarshal(b []byte) {
	copy(m.path[:], b[0:])
	m.size = binary.LittleEndian.Uint64(b[PathFieldSize:])
	copy(m.rootKey[:], b[PathFieldSize+8:])
	copy(m.rootMAC[:], b[PathFieldSize+24:])
	copy(m.data[:], b[PathFieldSize+40:])
}

// boundPath returns the NUL-terminated path stored in the metadata.
func (m *metaPlain) boundPath() string {
	for i, c := range m.path {
		if c == 0 {
			return string(m.path[:i])
		}
	}
	return string(m.path[:])
}

// parseNode0 checks the magic and version of a raw node 0 and returns its
// header and encrypted part, converting a v1 layout to v2 (as Gramine v1.9
// does: the v1 header has no flags byte, so everything after it moves by one).
func parseNode0(raw []byte) (h metaHeader, enc []byte, err error) {
	if binary.LittleEndian.Uint64(raw[0:8]) != fileID {
		return h, nil, ErrBadMagic
	}
	h.major, h.minor = raw[8], raw[9]
	copy(h.nonce[:], raw[metaNonceOff:])
	copy(h.mac[:], raw[metaMACOff:])
	switch h.major {
	case majorV2:
		h.flags = raw[metaFlagsOff]
		enc = raw[v2EncOffset : v2EncOffset+encMetaSize]
	case majorV1:
		enc = raw[v1EncOffset : v1EncOffset+encMetaSize]
	default:
		return h, nil, ErrBadVersion
	}
	return h, enc, nil
}

// buildNode0 writes a v2 node 0 into raw (4096 bytes).
func buildNode0(raw []byte, h *metaHeader, enc []byte) {
	clear(raw)
	binary.LittleEndian.PutUint64(raw[0:8], fileID)
	raw[8], raw[9] = majorV2, 0
	copy(raw[metaNonceOff:], h.nonce[:])
	copy(raw[metaMACOff:], h.mac[:])
	raw[metaFlagsOff] = h.flags
	copy(raw[v2EncOffset:], enc)
}
