package attest

import "github.com/nacre-tee/nacre/internal/verify"

func init() {
	verify.RegisterRecognizer(verify.Recognizer{Name: "sim-report", Match: looksLikeSim, Verify: VerifySim})
	verify.RegisterRecognizer(verify.Recognizer{Name: "ratls-certificate", Match: looksLikeCert, Verify: VerifyCertificate})
	verify.RegisterRecognizer(verify.Recognizer{Name: "nacre-quote", Match: looksLikeNacreQuote, Verify: VerifyNacreQuote})
}
