// Package measure owns signing and measurement of nacre manifests: RSA-3072
// signing keys (e = 3, like Gramine's enclave keys), the signed-manifest file
// format, the measurement (nacre's MRENCLAVE analogue) and the signer identity
// (same value as Gramine's MRSIGNER for the same key).
//
// The format is specified in docs/spec/measurement.md: a signed manifest is
// the canonical TOML of the expanded manifest (the body) followed by one final
// comment line "#nacre-signature v1 <base64>" carrying a fixed binary
// sigstruct and its RSA PKCS#1 v1.5 SHA-256 signature. The measurement is a
// domain-separated SHA-256 of the exact body bytes, so it covers every setting
// and every trusted-file hash; the file stays valid TOML.
package measure
