// Package tee owns the evidence producers: the code that asks the confidential
// computing platform (Intel TDX or AMD SEV-SNP through the kernel's configfs-tsm
// interface, or a simulated, insecure TEE for tests) for signed evidence over
// 64 bytes of report data, and the claims structure that binds a nacre
// application (its manifest measurement and signer) into that report data.
//
// Verification of real TDX/SNP evidence lives elsewhere (internal/verify,
// wired to RA-TLS by internal/attest); this package only verifies its own
// simulated evidence (SimVerifier), and only when explicitly told to trust
// the simulator's key.
//
// The formats are specified in docs/spec/attestation.md.
package tee
