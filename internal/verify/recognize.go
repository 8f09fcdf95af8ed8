package verify

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// Recognizer verifies one kind of evidence. Match must be cheap and must not
// fail on foreign input; Verify does the real work and follows VerifyQuote's
// conventions (Result filled as far as possible, *CheckError on rejection).
// The ratls and tee packages register recognizers for RA-TLS certificates
// and simulated-TEE evidence.
type Recognizer struct {
	Name   string
	Match  func(raw []byte) bool
	Verify func(ctx context.Context, raw []byte, opts *Options) (*Result, error)
}

var (
	recMu       sync.RWMutex
	recognizers []Recognizer
)

// RegisterRecognizer adds r; later registrations are tried first, so a
// specific format can shadow a generic one. Call it from init functions.
func RegisterRecognizer(r Recognizer) {
	if r.Name == "" || r.Match == nil || r.Verify == nil {
		panic("verify: RegisterRecognizer needs Name, Match and Verify")
	}
	recMu.Lock()
	defer recMu.Unlock()
	recognizers = append([]Recognizer{r}, recognizers...)
}

// Recognizers lists registered recognizer names, in trial order.
func Recognizers() []string {
	recMu.RLock()
	defer recMu.RUnlock()
	var out []string
	for _, r := range recognizers {
		out = append(out, r.Name)
	}
	return out
}

func init() {
	RegisterRecognizer(Recognizer{Name: "snp-report", Match: looksLikeSNP, Verify: VerifySNPReport})
	RegisterRecognizer(Recognizer{Name: "intel-quote", Match: looksLikeIntelQuote, Verify: VerifyQuote})
}

func looksLikeIntelQuote(b []byte) bool {
	if len(b) < quoteHeaderLen {
		return false
	}
	v := binary.LittleEndian.Uint16(b)
	tee := binary.LittleEndian.Uint32(b[4:])
	return v >= 3 && v <= 5 && binary.LittleEndian.Uint16(b[2:]) == attKeyECDSAP256 && (tee == teeTypeSGX || tee == teeTypeTDX)
}

func looksLikeSNP(b []byte) bool {
	if len(b) < snpReportLen {
		return false
	}
	v := binary.LittleEndian.Uint32(b)
	return (v == 2 || v == 3 || v == 5) && binary.LittleEndian.Uint32(b[0x34:]) == snpSigAlgoP384
}

// VerifyEvidence detects the kind of raw evidence with the registered
// recognizers and verifies it. Unknown input yields a *CheckError for check
// "evidence.format" wrapping ErrUnrecognized.
func VerifyEvidence(ctx context.Context, raw []byte, opts *Options) (*Result, error) {
	recMu.RLock()
	rs := append([]Recognizer(nil), recognizers...)
	recMu.RUnlock()
	for _, r := range rs {
		if r.Match(raw) {
			opts.logger().Debug("evidence recognized", "recognizer", r.Name, "bytes", len(raw))
			return r.Verify(ctx, raw, opts)
		}
	}
	res := &Result{}
	return res, res.Fail("evidence.format", fmt.Errorf("%w: %d bytes match none of %v", ErrUnrecognized, len(raw), Recognizers()))
}
