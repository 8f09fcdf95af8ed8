// Package attestfs owns /dev/attestation inside the shield: Gramine's
// attestation pseudo-filesystem, served as a small FUSE filesystem of its
// own, so that an application written for Gramine gets evidence and sets
// encrypted-files keys the way it does under Gramine.
//
// The sandbox opens /dev/fuse in the app's namespaces, mounts it on
// /dev/attestation (fd=N,rootmode=40000,user_id=U,group_id=G,allow_other,
// default_permissions) and hands the fd to nacre's parent process, which
// calls (*FS).Serve and then runs (*fuse.Server).Serve.
//
// # Files
//
//	attestation_type   r   platform name: tdx, snp, sim or none (no newline)
//	user_report_data   rw  64 bytes bound into the next quote
//	quote              r   evidence over user_report_data; absent with platform none
//	keys/<name>        rw  16-byte keys of encrypted mounts (internal/keys)
//
// As in Gramine, content is produced when a file is opened, and every
// write(2) is one complete value whatever the file offset: a write to
// user_report_data shorter than 64 bytes is zero-padded, a longer one is
// truncated to 64. A fresh open of user_report_data reads the 64 bytes in
// effect for the caller, zeros before any write (Gramine reads an empty
// file there, and on a write through the same descriptor the bytes written).
//
// The quote is generated at open(2), over the caller's user_report_data at
// that moment, so reads of one open file are consistent. By default it is a
// nacre quote (EncodeQuote): the platform evidence of tee.Attest over
// tee.Claims{Measurement, Signer, UserData: user_report_data, IssuedAt}
// together with the encoded claims, which a verifier needs to recompute the
// binding (ParseQuote, then the platform's verifier, then tee.CheckBinding).
// With Config.RawQuote it is the bare platform evidence (TDX quote, SNP
// report or simulated report) whose report data is user_report_data itself:
// Gramine's binding, accepted by verifiers that check REPORTDATA directly,
// but on TDX and SNP it then binds no application identity. A failed
// evidence request fails open(2) with EACCES, as in Gramine.
//
// keys/ lists the names of Config.Keys. Reading a key gives its 16 raw
// bytes, or nothing while it is unset. Writing one must be exactly 16 raw
// bytes in one write(2) (or whatever Config.ParseKey accepts), otherwise
// EACCES. Only existing names can be written: as in Gramine, key names come
// from the manifest (encrypted mounts, fs.insecure__keys), so creating a new
// name fails with EACCES and looking one up with ENOENT. Names starting
// with "_" are platform-derived keys (Gramine's _sgx_mrenclave,
// _sgx_mrsigner) and are read-only.
//
// SGX-only files (report, target_info, my_target_info, and the legacy
// protected_files_key) do not exist: TDX and SNP have no local attestation
// between enclaves of one host.
//
// # Per-process state
//
// Gramine keeps user_report_data per process (a global of the process's
// library OS). Here one FUSE server serves every process of the shield, and
// FUSE names the caller of each request by its thread id. With
// Config.ProcDir, a procfs of the callers' PID namespace, the thread id is
// mapped to its process (Tgid and start time, so a reused PID starts fresh)
// and user_report_data is kept per process: a process may write it from one
// thread and open the quote from another (Go programs do), and two
// processes attesting at once do not see each other's data. Without
// ProcDir, or for a caller whose process cannot be found, one value is
// shared by the whole instance (last writer wins). Entries of exited
// processes are dropped once 256 processes have written.
//
// Keys are shared by all processes and with the encrypted-files mounts
// through the KeyStore, as Gramine shares them with its encrypted mounts.
//
// # Traps
//
//   - The serving process must not open files of the mount through the Go
//     runtime (os.Open): Go registers regular files with its epoll poller,
//     the kernel then sends a FUSE POLL request that the same process must
//     answer, and the epoll_ctl call can keep the runtime from running the
//     goroutine that would answer it (a deadlock). nacre serves the mount to
//     the app only; tests first open and poll go-fuse's
//     ".go-fuse-epoll-hack" file with plain system calls, after which the
//     kernel stops sending POLL for the connection.
//
// The format of the nacre quote and these rules are specified in
// docs/spec/dev-attestation.md.
package attestfs
