package pf

import (
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 4493 section 4 test vectors.
func TestCMACRFC4493(t *testing.T) {
	var key [16]byte
	copy(key[:], unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	msg := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		got := cmacAES128(key, msg[:c.n])
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("len %d: got %x want %s", c.n, got, c.want)
		}
	}
	// Subkeys from RFC 4493 section 4.
	var l [16]byte
	copy(l[:], unhex(t, "7df76b0c1ab899b33e42f047b91b546f"))
	k1 := cmacDouble(l)
	k2 := cmacDouble(k1)
	if hex.EncodeToString(k1[:]) != "fbeed618357133667c85e08f7236a8de" || hex.EncodeToString(k2[:]) != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("subkeys K1=%x K2=%x", k1, k2)
	}
}

// The metadata key of a Gramine-written vector, recomputed from its nonce,
// must authenticate its metadata node (the KDF is checked end to end by
// TestVectorsDecrypt too; this pins the KDF input layout).
func TestKDFInputLayout(t *testing.T) {
	raw := readVec(t, "v2_k1_det_size0.pf")
	h, enc, err := parseNode0(raw)
	if err != nil {
		t.Fatal(err)
	}
	k := deriveMetadataKey(key1, h.nonce)
	var plain [encMetaSize]byte
	if err := openNode(k[:], h.mac[:], enc, plain[:], nil); err != nil {
		t.Fatal(err)
	}
	var wrong [32]byte
	k = deriveMetadataKey(key1, wrong)
	if err := openNode(k[:], h.mac[:], enc, plain[:], nil); err == nil {
		t.Fatal("wrong nonce authenticated")
	}
}
