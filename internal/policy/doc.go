// Package policy decides whether authentic TEE evidence is what the relying
// party expects: measurements (MRENCLAVE/MRSIGNER, MRTD/RTMRs, SNP
// MEASUREMENT/HOST_DATA, nacre's manifest measurement/signer), product ID,
// minimum SVN, debug, and which TCB statuses are tolerated.
//
// Package verify answers "is this evidence genuine?"; this package answers
// "is it acceptable?". The allowance names follow Gramine's RA-TLS
// environment variables (RA_TLS_ALLOW_OUTDATED_TCB_INSECURE, …) and FromEnv
// reads them with Gramine's rules. A Policy is written in TOML (or JSON).
package policy
