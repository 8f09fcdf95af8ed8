package tee

import (
	"encoding/hex"
	"testing"
)

func TestSNPKeyRequestEncoding(t *testing.T) {
	if snpGetDerivedKey != 0xc0205301 {
		t.Fatalf("SNP_GET_DERIVED_KEY = %#x, want 0xc0205301", snpGetDerivedKey)
	}
	r := SNPKeyRequest{RootKeySelect: 1, GuestFieldSelect: SNPFieldMeasurement | SNPFieldPolicy, VMPL: 2, GuestSVN: 0x01020304, TCBVersion: 0x1122334455667788}
	want := "01000000" + "00000000" + "0900000000000000" + "02000000" + "04030201" + "8877665544332211"
	if got := hex.EncodeToString(r.Marshal()); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	rsp := make([]byte, 64)
	for i := 32; i < 64; i++ {
		rsp[i] = byte(i)
	}
	k, err := parseSNPKeyResponse(rsp)
	if err != nil || k[0] != 32 || k[31] != 63 {
		t.Fatalf("response: %v %x", err, k)
	}
	rsp[0] = 0x16
	if _, err := parseSNPKeyResponse(rsp); err == nil {
		t.Fatal("firmware error status accepted")
	}
	if _, err := parseSNPKeyResponse(rsp[:63]); err == nil {
		t.Fatal("short response accepted")
	}
}

func FuzzParseSimReport(f *testing.F) {
	r := &SimReport{Version: 1, Signature: []byte{0x30, 0x06, 2, 1, 1, 2, 1, 1}}
	f.Add(r.Marshal())
	f.Add([]byte(SimMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSimReport(b)
		if err != nil {
			return
		}
		if string(r.Marshal()) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
