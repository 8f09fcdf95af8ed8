// Package attest wires evidence verification together: it turns internal/verify
// (offline checks of Intel SGX/TDX quotes and AMD SEV-SNP reports against
// collateral files) into ratls.EvidenceVerifier adapters that fill tee.Verified,
// and it registers three more evidence kinds in verify's recognizer registry:
// nacre's simulated-TEE reports ("sim", trusted only for keys passed with
// WithSimKeys), RA-TLS certificates (PEM or DER), whose embedded evidence
// and public-key binding are checked with internal/ratls, and nacre quotes
// (a shield's /dev/attestation/quote: platform evidence bound to claims).
//
// Import it (for its init) wherever verify.VerifyEvidence should understand
// those kinds. verify and ratls do not import this package, so there is no
// cycle: attest → {verify, policy, ratls, tee, attestfs}.
//
// The rules are specified in docs/spec/verify.md §7 and docs/spec/ratls.md §2.
package attest
