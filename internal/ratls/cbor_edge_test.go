package ratls

import (
	"bytes"
	"strings"
	"testing"
)

// TestTaggedEvidenceStrict covers inputs a lenient CBOR decoder might accept.
func TestTaggedEvidenceStrict(t *testing.T) {
	spki := []byte("spki")
	claims := encodeClaims(spki, nil)
	body := appendBstr(appendBstr(appendHead(nil, 4, 2), []byte{1}), claims)
	good := append(appendHead(nil, 6, TagGramineSGXQuote), body...)
	if _, err := ParseTaggedEvidence(good); err != nil {
		t.Fatal(err)
	}
	textEvidence := append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendTstr(appendHead(nil, 4, 2), "x"), claims)...)
	dupClaims := appendHead(nil, 5, 2)
	for i := 0; i < 2; i++ {
		dupClaims = appendBstr(appendTstr(dupClaims, ClaimPubkeyHash), pubkeyHashClaim(spki))
	}
	indef := append(appendHead(nil, 6, TagGramineSGXQuote), 0x9f)
	indef = append(appendBstr(appendBstr(indef, []byte{1}), claims), 0xff)
	for name, in := range map[string][]byte{
		"trailing byte":     append(bytes.Clone(good), 0),
		"text evidence":     textEvidence,
		"duplicate claim":   append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendBstr(appendHead(nil, 4, 2), []byte{1}), dupClaims)...),
		"indefinite array":  indef,
		"untagged":          body,
		"unknown tag":       append(appendHead(nil, 6, 12345), body...),
		"no pubkey-hash":    append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendBstr(appendHead(nil, 4, 2), []byte{1}), []byte{0xa0})...),
		"one element":       append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendHead(nil, 4, 1), []byte{1})...),
		"aux on non-SNP":    append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendBstr(appendBstr(appendHead(nil, 4, 3), []byte{1}), claims), []byte{2})...),
		"short Intel quote": append(appendHead(nil, 6, TagIntelTEEQuote), body...),
		"claims not a map":  append(appendHead(nil, 6, TagGramineSGXQuote), appendBstr(appendBstr(appendHead(nil, 4, 2), []byte{1}), []byte{0x80})...),
	} {
		if _, err := ParseTaggedEvidence(in); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "malformed RA-TLS") {
			t.Errorf("%s: error does not wrap ErrExtension: %v", name, err)
		}
	}
}
