package pf

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
)

// cmacAES128 computes AES-CMAC (RFC 4493) of msg under a 16-byte key.
// Implemented here because the standard library has no CMAC.
func cmacAES128(key [16]byte, msg []byte) [16]byte {
	c, _ := aes.NewCipher(key[:]) // a 16-byte key cannot fail
	var l, k1, k2 [16]byte
	c.Encrypt(l[:], l[:])
	k1 = cmacDouble(l)
	k2 = cmacDouble(k1)

	n := (len(msg) + 15) / 16
	complete := n > 0 && len(msg)%16 == 0
	if n == 0 {
		n = 1
	}
	var last [16]byte
	tail := msg[(n-1)*16:]
	if complete {
		subtle.XORBytes(last[:], tail, k1[:])
	} else {
		copy(last[:], tail)
		last[len(tail)] = 0x80
		subtle.XORBytes(last[:], last[:], k2[:])
	}
	var x [16]byte
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[i*16:(i+1)*16])
		c.Encrypt(x[:], x[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	c.Encrypt(x[:], x[:])
	return x
}

// cmacDouble multiplies by x in GF(2^128) (the subkey step of RFC 4493).
func cmacDouble(in [16]byte) [16]byte {
	var out [16]byte
	carry := in[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15] << 1
	out[15] ^= 0x87 * carry // constant-time conditional reduction
	return out
}

// metadataKeyLabel is the SP 800-108 label Gramine (and the Intel SDK) use.
const metadataKeyLabel = "SGX-PROTECTED-FS-METADATA-KEY"

// deriveMetadataKey is the NIST SP 800-108 counter-mode KDF with AES-CMAC as
// PRF, one iteration: CMAC(kdk, LE32(1) || label[64] || nonce[32] || LE32(128)).
func deriveMetadataKey(kdk [16]byte, nonce [32]byte) [16]byte {
	var in [4 + 64 + 32 + 4]byte
	binary.LittleEndian.PutUint32(in[0:], 1)
	copy(in[4:68], metadataKeyLabel)
	copy(in[68:100], nonce[:])
	binary.LittleEndian.PutUint32(in[100:], 128)
	return cmacAES128(kdk, in[:])
}
