// Package pffs owns nacre's encrypted mounts (Gramine's `type = "encrypted"`
// and an encrypted fs.root): a FUSE filesystem that shows the application a
// host directory of protected files (internal/pf, Gramine format v2) as
// plaintext. The host only ever sees protected files; file and directory
// names are not encrypted, as in Gramine.
//
// # Serving
//
// One FUSE connection per encrypted mount. The sandbox child opens
// /dev/fuse, mounts it at the mount path with fd=N,rootmode=40000,
// user_id=U,group_id=G,allow_other,default_permissions and hands the fd to
// nacre's parent, which calls FS.Serve (like sandbox.Config.ServeRoot).
// Unlike internal/fileserver this server answers OPEN: all opens of a file,
// by every process of the application, share one pf.File, reference
// counted, flushed at every close(2) (FLUSH) and closed at the last RELEASE.
// Every file and directory
// is owned by Config.UID/GID and keeps its host mode bits; the kernel's
// default_permissions check enforces them.
//
// # Path binding
//
// A file at <mount>/a/b is bound to NormalizePath(BindDir + "/a/b"), where
// BindDir is the mount's `uri` without "file:" exactly as the manifest
// writes it (it may be relative). That is the path Gramine's
// libos_fs_encrypted.c binds (the file's URI with the prefix stripped,
// normalized), so files move freely between nacre and Gramine with the
// same manifest. Rename rebinds the file (pf.File.Rename) before the host
// rename and back if it fails. Renaming a directory that holds files would
// rebind every file below it and is refused with EXDEV (mv then copies);
// hard links, symlinks and device nodes are refused with EPERM; host
// symlinks and special files are not shown.
//
// # Keys and errors
//
// The key is looked up in the keys.Store at every open, so a key provisioned
// after mounting (secret provisioning, /dev/attestation/keys/<name>) takes
// effect at once. The application sees:
//
//   - EACCES: the mount's key is not set (lookup, stat, open and create
//     fail; readdir still lists names). Logged once per file at error level
//     with the key name and how to set it.
//   - EIO: the file failed its integrity check: wrong key, tampering,
//     a file renamed or copied on the host (bound path differs), an
//     unrecoverable journal. Logged once per file at error level with the
//     host path and pf's description; other files keep working, and the
//     damaged file can still be deleted or replaced.
//
// # Crash safety
//
// nacre is crash-safe by default, whatever enable_recovery says: after a
// SIGKILL of nacre or of the application at any moment, every file opens
// and each byte holds its old or its new value (a write(2) cut by the crash
// may be partly applied, as on any filesystem); fsync and msync(MS_SYNC)
// return only once the data is durable; an atomic replace (write a
// temporary file, fsync, rename) yields the old or the new file whole.
// The pieces:
//
//   - Every flush goes through pf's recovery journal, always on, in
//     Gramine's format ("<file>.gramine.recovery", hidden from the
//     application): journal synced, old node 0 flagged, new nodes written
//     and synced, new node 0 written. The journal is cleared once the file
//     has opened (so a stale one is never replayed into a later version)
//     and deleted when the file is closed cleanly. Records of nodes that
//     did not exist before the flush (all-zero pre-images) are left out:
//     undoing the flush restores a node 0 that does not reach them.
//     Gramine with enable_recovery =
//     true rolls back the same journals; with it false Gramine ignores the
//     pending-write flag and the leftover journal (it never opens it), so
//     files nacre closed cleanly always open in Gramine, and a file nacre
//     crashed on opens in Gramine after nacre (or Gramine with recovery)
//     has opened it once.
//   - Shrinking is committed at once: pf.Truncate, then flush and fsync,
//     then the host file is cut. Until then the host file keeps its tail
//     (hostBacking defers pf's cut), because the durable node 0 still
//     names those nodes. An interrupted cut is finished at the next open.
//   - New files are created under a hidden temporary name and renamed into
//     place after their first node 0 is written, so no empty, unopenable
//     file ever carries the application's name.
//   - Rename flushes first, so the rebinding flush journals node 0 alone;
//     if nacre dies between rebinding and the host rename, the next open
//     finds a file bound to the new name under the old one and restores
//     its journaled node 0 (only if that node authenticates under the key
//     and the current name).
//
// Cost: a flush that changes the tree writes each changed node twice and
// syncs three times; a plain close is not synced (as in Gramine), fsync is.
// Power loss right after creating or renaming a file may lose the name
// (directories are not synced), not the content of a file already fsynced.
//
// # Caching and performance
//
// The kernel caches names and attributes for an hour (the host must not
// change the directory behind a running application), uses writeback
// caching (it gathers small writes into pages and owns size and mtime) and
// keeps page-cache data across opens. MaxWrite is 1 MiB; READDIRPLUS is
// off (it would decrypt every file's metadata on each listing); splice is
// off (go-fuse would prepare a pipe for every READ, then find that
// decrypted data cannot be spliced). Each open file has a pf node cache of
// Config.CacheNodes (default 2048 nodes, up to 8 MiB of plaintext plus its
// ciphertext) for small and partial-node I/O; concurrent writeback WRITEs
// (the kernel queues dozens) enter pf lowest offset first, each woken
// alone when its turn comes (otherwise a WRITE beyond the end makes pf
// encrypt, and maybe flush, zeros the next WRITE overwrites).
//
// Large I/O bypasses the cache (internal/pf direct.go, batch.go):
//
//   - A WRITE's whole nodes beyond what any recoverable node 0 names (an
//     append, a new or O_TRUNC-rewritten file) are copied into a batch
//     and the WRITE is answered; a goroutine seals the batch on every core
//     and writes it with one pwritev per MHT span while the kernel sends
//     the next WRITE. Only their MHT nodes (and the partial node at each
//     WRITE's end) stay in the cache, so a long sequential write no longer
//     flushes (journal, three syncs) every 8 MiB but only when the cache
//     fills (every ~500 MiB by default) and at fsync or close. A failed
//     batch write fails the file; the next operation, and fsync, report
//     it. Batches cost up to ~4 MiB of buffers per file being written.
//   - A READ's uncached whole nodes are read with one preadv per MHT span
//     and authenticated straight into the reply buffer, with pf's lock
//     released, so concurrent READs decrypt in parallel. The kernel sends
//     large READs only with a large readahead window: RaiseReadahead sets
//     the mount's read_ahead_kb to ReadaheadKB (4 MiB: 1 MiB READs, several
//     in flight); the kernel's default of 128 KiB gives one 128 KiB READ at
//     a time. Only host root can raise it.
//
// Benchmarks: BenchmarkMount* and BenchmarkPlain* (need root; the test
// mount raises the readahead as nacre's sandbox should; set
// PFFS_BENCH_DIR=/dev/shm to leave the disk out) against the AES-GCM limit
// of internal/pf's BenchmarkAESGCM, or bench/pf.sh. Measured on the shared
// two-core test machine under load average 2.6-6.6 from other work (64 MiB,
// 1 MiB calls, client in the same process; old and new builds alternated,
// medians of 9 runs on disk, 3 on /dev/shm): sequential write 240 -> 340
// MB/s on disk (256 -> 354 on /dev/shm), sequential read 396 -> 732 MB/s
// on disk (360 -> 548 on /dev/shm); random 4 KiB reads (23 -> 26) and
// writes (about 560) unchanged within the noise. The AES-GCM limit measured
// 1800-3000 MB/s in the same period, so both stay below the 50% goal on
// this machine. Traced, pf completes one 1 MiB WRITE per ~1 ms (about
// 1 GB/s) in undisturbed stretches, and 1 MiB READs take ~0.55 ms each;
// the averages are lower because the process gets about one core of the
// two, and stalls of 10+ ms when preempted. What remains is mostly kernel
// copies and scheduling, not AES: per 64 MiB written, the application's write into the FUSE page
// cache, the kernel's copy of each WRITE to the server, the batch copy,
// sealing, and the host write cost about the same each; a READ copies the
// ciphertext from the host page cache, decrypts, and the kernel copies the
// reply and then to the application. On a busy machine every FUSE round
// trip also waits for a CPU (random 4 KiB reads: ~50 us of server work in
// a 150-300 us round trip).
//
// # Traps
//
//   - Never use the mount from the serving process (nacre's parent): the Go
//     runtime registers opened files with epoll, which sends FUSE POLL
//     requests, and a page fault on a mapped file blocks a thread the
//     garbage collector must stop, while the goroutines that would answer
//     are stopped too. The tests do it only after go-fuse's poll hack and
//     never map files in-process.
//   - With writeback caching the kernel never takes a file's size from the
//     server after the inode exists; that is why lookup fails (EACCES)
//     while the key is missing instead of reporting a placeholder size.
package pffs
