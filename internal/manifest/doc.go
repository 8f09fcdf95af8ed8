// Package manifest owns nacre's Gramine-syntax (v1.9) security manifests: it
// parses the TOML, validates every key the way Gramine's schema and runtime do,
// and offers a typed view used by nacre run, while keeping the parsed TOML tree
// as the source of truth so that every key can be re-emitted.
//
// # Reading a manifest
//
// [Parse] and [Load] return a [*Manifest]. Errors about keys are
// [*KeyError] values naming the file, the line, the full dotted key (array
// elements are written key[i]) and, for unknown keys, the closest valid key.
// Several problems are reported at once, joined with [errors.Join] and sorted
// by line ([errors.As] finds the first). TOML syntax errors are
// [*SyntaxError] values with file:line:col.
//
// SGX-only keys (sgx.enclave_size, sgx.max_threads, ...) are type-checked and
// then ignored with one debug log line each: nacre has no enclave. The
// loader.entrypoint table is accepted for the same reason (nacre has no
// separate LibOS binary).
//
// # Writing a manifest
//
// [Manifest.Marshal] emits the canonical TOML form defined in
// docs/spec/measurement.md; it is what nacre sign measures.
// [Manifest.ExpandTrustedFiles] expands trusted directories and hashes files
// before signing.
//
// # Running
//
// [Manifest.ResolveArgv] and [Manifest.ResolveEnv] implement Gramine's rules
// for the application's argv and environment; [Manifest.InsecureSettings]
// lists what Gramine would warn about at start.
package manifest
