package secretprov

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestWireKnownAnswer(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRequest(&b); err != nil {
		t.Fatal(err)
	}
	wantReq := "5345435245545f50524f564953494f4e5f52415f544c535f524551554553545f563100" // ..._REQUEST_V1\0
	if got := hex.EncodeToString(b.Bytes()); got != wantReq || b.Len() != 35 {
		t.Fatalf("request %s (%d bytes)", got, b.Len())
	}
	if err := ReadRequest(&b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := WriteResponse(&b, []byte("A_SIMPLE_SECRET\x00")); err != nil {
		t.Fatal(err)
	}
	want := []byte("SECRET_PROVISION_RA_TLS_RESPONSE_V1:\x00\x00\x00\x00\x10A_SIMPLE_SECRET\x00")
	if !bytes.Equal(b.Bytes(), want) || ResponseHeaderSize != 41 {
		t.Fatalf("response %q", b.Bytes())
	}
	got, err := ReadResponse(bytes.NewReader(want), 0)
	if err != nil || string(got) != "A_SIMPLE_SECRET\x00" {
		t.Fatalf("%q %v", got, err)
	}
	for n := 0; n < len(want); n++ {
		if _, err := ReadResponse(bytes.NewReader(want[:n]), 0); !errors.Is(err, ErrProtocol) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
	for n := 0; n < len(request); n++ {
		if err := ReadRequest(bytes.NewReader(request[:n])); !errors.Is(err, ErrProtocol) {
			t.Fatalf("request prefix %d accepted", n)
		}
	}
	bad := bytes.Clone(want)
	bad[3] = 'X'
	if _, err := ReadResponse(bytes.NewReader(bad), 0); !errors.Is(err, ErrProtocol) {
		t.Fatal("bad header accepted")
	}
	if _, err := ReadResponse(bytes.NewReader(want), 15); !errors.Is(err, ErrProtocol) {
		t.Fatal("over-limit secret accepted")
	}
	zero := append(bytes.Clone(responseHeader), 0, 0, 0, 0)
	if _, err := ReadResponse(bytes.NewReader(zero), 0); !errors.Is(err, ErrProtocol) {
		t.Fatal("empty secret accepted")
	}
	huge := append(bytes.Clone(responseHeader), 0x80, 0, 0, 0)
	if _, err := ReadResponse(bytes.NewReader(huge), 1<<31); !errors.Is(err, ErrProtocol) {
		t.Fatal("length above INT_MAX accepted")
	}
	if err := WriteResponse(&b, nil); err == nil {
		t.Fatal("empty secret sent")
	}
}

func FuzzReadResponse(f *testing.F) {
	var b bytes.Buffer
	WriteResponse(&b, []byte("secret"))
	f.Add(b.Bytes())
	f.Add(request)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ReadResponse(bytes.NewReader(in), 1<<16)
		if err != nil {
			return
		}
		var out bytes.Buffer
		WriteResponse(&out, s)
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatal("accepted bytes do not re-encode to a prefix of the input")
		}
	})
}
