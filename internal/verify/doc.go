// Package verify decides whether TEE evidence is authentic: an Intel SGX DCAP
// quote (v3), an Intel TDX quote (v4, v5) or an AMD SEV-SNP attestation report
// (v2, v3, v5), checked offline against collateral supplied as files (Intel
// PCS TCB info / QE identity / CRLs, AMD VCEK/VLEK and ASK/ARK certificates).
//
// It owns the binary layouts of those formats, the vendor certificate chains
// (Intel SGX Root CA and AMD ARKs are embedded), revocation, collateral
// validity windows and the TCB status computation. Whether authentic evidence
// is acceptable (expected measurements, allowed TCB statuses, debug) is the
// business of package policy.
//
// Every check is recorded in Result.Checks; the first failing check stops
// verification and is returned as a *CheckError naming the check. Time is
// injected through Options.Now so verification is reproducible.
//
// New evidence kinds (simulated TEE blobs, RA-TLS certificates) plug in via
// RegisterRecognizer; VerifyEvidence dispatches on the raw bytes.
package verify
