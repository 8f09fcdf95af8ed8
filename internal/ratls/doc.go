// Package ratls owns nacre's RA-TLS certificates: self-signed X.509
// certificates whose extensions carry TEE evidence binding the certificate's
// public key, in the two formats Gramine uses (the legacy quote OID and the
// TCG DICE tagged-evidence OID 2.23.133.5.4.9), their parsing, and their
// verification against a policy. Evidence verification itself is delegated
// to an EvidenceVerifier per platform (the simulated TEE's is built into
// internal/tee; real TDX/SNP/SGX verifiers come from internal/attest).
//
// The format is specified in docs/spec/ratls.md.
package ratls
