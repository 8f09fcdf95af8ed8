// Package pf owns Gramine's protected-files ("encrypted files") on-disk format:
// reading and writing format v2 (Gramine v1.9) and reading format v1
// (Gramine v1.0–v1.8, rewritten as v2 on the first write), with the Merkle
// tree of MHT nodes, AES-128-GCM per-node encryption, the SP 800-108
// CMAC key derivation of the metadata key, path binding and the optional
// recovery journal.
//
// The package is pure: it knows nothing about FUSE, mounts or OS policy. The
// host file is reached through the Backing interface so the same code serves
// the CLI (FileBacking), a FUSE mount and tests (MemBacking).
//
// Every integrity failure is reported as a *Error whose Kind is one of the
// sentinel errors (ErrTampered, ErrWrongKey, ErrPathMismatch, ErrTruncated,
// ErrBadMagic, ErrBadVersion, ErrRecoveryNeeded); errors.Is works on both the
// *Error and the sentinel. Plaintext of a node that failed authentication is
// never returned. See docs/spec/pf.md for the format.
package pf
