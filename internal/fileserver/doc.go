// Package fileserver owns the FUSE server that presents the app's filesystem
// view: the manifest's mounts (fs.root and fs.mounts), the directories the
// sandbox mounts other filesystems on, and a few aliased files, with every
// trusted file verified chunk by chunk (internal/trustedfs) before the app can
// read a byte of it.
//
// # Structure
//
// The view is a mount table. Each entry maps a path of the view to a backend,
// the internal interface that serves one mounted subtree (lookup, readdir,
// create, rename, ...). The chroot backend (a host directory or single host
// file, Gramine's "chroot" mount) is the first implementation; encrypted
// files or a /dev/attestation pseudo-filesystem are meant to be further
// backends in the same table. Directory nodes belong to the view, not to a
// backend, so that mounts can nest anywhere; a directory asks the backend that
// owns it for its entries and adds the mount points, aliases and synthetic
// directories that sit directly under it. Mount order follows Gramine: a later
// mount whose path is a prefix of (or equal to) an earlier one hides it;
// otherwise the longest matching path wins.
//
// # File classes
//
// Every regular file of a chroot mount falls in one class, by host path, in
// this order: trusted (in trustedfs.Set: read-only, verified), allowed (in
// Config.Allowed or under one of its entries: unverified read-write), else
// unlisted: denied under Strict, read-write with one warning per path under
// AllowAllButLog. Trusted files stay trusted under either policy.
//
// # Access decisions without OPEN
//
// The server answers the first OPEN with ENOSYS, which puts the kernel in
// no_open mode for the whole connection: no OPEN/RELEASE round trip per
// open(2), which is most of FUSE's cost for exec-heavy apps. (The one
// exception is Config.Passthrough, under "Verified copies" below.) Reads and writes
// then arrive without a handle and are served per inode. The access decisions
// that Gramine makes at open are made instead by the kernel's
// default_permissions check on attributes this server chooses:
//
//   - Files the app may only read (trusted), may not open at all (unlisted
//     under Strict) and directories the app may not modify are reported with
//     the invalid owner uid/gid 0xFFFFFFFF. No user namespace maps that id,
//     so no process (not even root of the sandbox or of the host) has
//     CAP_DAC_OVERRIDE on them and only the "other" permission bits apply:
//     trusted files are r--r--r-- (plus x if the host file has any x bit),
//     unlisted files under Strict are ---------- (open fails with EACCES;
//     stat and readdir still show them), and such directories r-xr-xr-x.
//     The app sees them owned by the overflow id (nobody), as in any rootless
//     container.
//   - Writable files and directories are owned by Config.UID/GID (the app's
//     uid in the mount's user namespace, 0 by default) with the host's mode.
//     A rootless server shows another host user's allowed file with only
//     the group or "other" bits the host grants it, in all three places,
//     and unowned unless they are read and write: the app's own
//     CAP_DAC_OVERRIDE would otherwise let open(2) through and the READ,
//     WRITE or page fault fail later. So unlink or rename of such a
//     read-only file fails with EOVERFLOW where the host would allow it,
//     and host ACLs are not consulted (the mode bits decide).
//
// Unlink, rename and chmod of such inodes fail in the kernel with EOVERFLOW
// ("inode writeback is not safe when the uid or gid are invalid"), before any
// permission check; that is what rootless containers show for files of
// unmapped owners too.
//
// The server enforces the same decisions again on every request (READ,
// WRITE, SETATTR, CREATE, ...), so a mount without default_permissions is no
// weaker, only the errno of a write open of a trusted file comes later
// (at write instead of open).
//
// # Host paths and symlinks
//
// Host symlinks are presented as symlinks, which the kernel resolves in the
// app's view. Each chroot mount keeps an O_PATH fd of its host root (opened
// once, following symlinks in the configured host path) and resolves every
// host path beneath it with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so
// the server never follows a host symlink or leaves the mount, even when the
// host swaps a directory for a symlink after the app looked it up. `..` is
// resolved by the kernel in the view and never reaches the server. The one
// exception are trusted files: a trusted host path is always presented as a
// regular file and read by its host path with symlinks followed, as Gramine
// does, which is safe because every byte is checked against the manifest; it
// also keeps the host from substituting a symlink to an unverified file for a
// trusted one. LOOKUP is the one shortcut: a directory node keeps an O_PATH
// fd of its host directory (opened as above) and looks a child up with one
// fstatat(AT_SYMLINK_NOFOLLOW) of the single name, which cannot leave that
// directory (dirfd.go).
//
// # Caching
//
// Entry, attribute and negative-entry timeouts are an hour, auto_inval_data is
// off and no_open implies KEEP_CACHE, so a page of a trusted file enters the
// kernel page cache only through the verifying READ handler or the
// verify-ahead below (both store bytes that trustedfs verified) and is served
// from there until evicted; an evicted page is read and verified again.
// OPENDIR is answered ENOSYS too (no_opendir, opendir.go): no OPENDIR/
// RELEASEDIR pair per opendir(3), and the kernel caches every listing
// (FOPEN_CACHE_DIR is its no_opendir default). The price is that changes the
// host makes behind the app's back (to allowed files too) are not seen while
// cached. Trusted data is never returned with splice or ReadResultFd of a
// host fd, nor passed through to one; the only backing files passthrough
// ever gets are verified copies in guest memory (below), and without
// Config.Passthrough CAP_PASSTHROUGH is disabled for the connection.
// Allowed files may use splice.
//
// # Verified reads
//
// A READ of a trusted file is answered from a trustedfs.Verified: the
// chunks it touches are read from the host into a buffer of a small pool
// (faulted in once, at server start, instead of a fresh request-sized buffer
// per READ), hashed in place (on both cores when it is the only trusted
// READ in flight) and written to /dev/fuse from there with one writev
// (verified.go). ReadResultData is not used: go-fuse first tries to
// splice any non-fd result, which costs a pipe resize, a header write and a
// discard per READ for nothing.
//
// Verify-ahead (ahead.go): when the first READ of a trusted file at offset 0
// shows the ELF magic and the file is at most 16 MiB, a goroutine verifies
// the rest of it in 256 KiB steps on one core and pushes each verified step
// into the page cache with FUSE_NOTIFY_STORE, so that the loader's page
// faults find it cached while the app runs on the other core. It skips
// chunks that READs already claimed, pauses while any trusted READ is being
// answered (the app waits for those), stores nothing past the verified size
// (only when the kernel's size is the verified one, so a store cannot grow
// the file) and stops at the first hash mismatch without storing that step;
// the app's own READ of it then fails with EIO as before. A READ that falls
// in the step being stored (the app faulted just ahead of the store) is
// answered with a copy of its verified bytes. Measured: python3
// -c pass first start in a fresh shield ~36 → ~25 ms (native ~13 ms).
//
// # Verified copies
//
// With Config.Cache (internal/verifiedcache: a store in guest memory, keyed
// by the manifest's whole-file SHA-256 and the host file's device, inode,
// mtime and ctime at lookup), a trusted file is served from its copy when
// the store has one (copy.go) and the host file still has that identity
// (one stat per READ), so that a file changed on the host fails to read as
// it does without the store: READs are answered with a pread
// from the copy, no host read and no hashing, and a program's copy is stored
// ahead into the page cache like verify-ahead does. On a miss nothing
// changes for the app: the bytes of the verifying READs and of verify-ahead
// are also handed, after the reply is written, to a goroutine that writes
// them into an unnamed copy, which the store names once every page of the
// file is in it. A chunk that fails verification is never written, so the
// copy of a file changed on the host is never complete and never published.
// Files over 64 MiB are not copied as they are read (it slows their first
// read by a third), unless Config.Passthrough is on.
//
// Config.Passthrough (host root only, $NACRE_VERIFIED_PASSTHROUGH=1 in
// nacre run) answers OPEN instead of ENOSYS, so that an open of a trusted
// file with a copy can get FOPEN_PASSTHROUGH with the copy as backing file
// (open.go): no READ at all, page faults and re-reads at tmpfs speed (the
// FUSE page cache of 6.18 holds only 4 KiB pages). The price is one OPEN
// round trip per open(2) of every file: measured, python3 -c pass whole run
// ~41 → ~35 ms, a 1000x fork+exec loop ~740 → ~950 ms. So it is off by
// default. The kernel refuses passthrough and cached opens of one inode at
// the same time, so a file is passed through only while none of its opens
// is in cached mode; its FUSE page cache is then dropped.
//
// # Protected directories
//
// Every server, with or without Config.Cache, keeps Config.Protected
// (verifiedcache.Protected: every place a store of this uid, or as root of
// any uid, may live, and their parents) out of the app's reach, because a
// later run serves what a store holds without hashing it: LOOKUP of such a
// directory (by device and inode) or of such a name in its parent fails
// with EACCES, as do creating, renaming or removing one, creating anything
// in one and renaming an ancestor of one; New refuses mounts and aliases
// into one (protect.go).
//
// # Other choices
//
//   - No extended attributes: GETXATTR, LISTXATTR, SETXATTR and REMOVEXATTR
//     answer ENOSYS, so the kernel stops asking (the app gets EOPNOTSUPP).
//     Otherwise every execve and every write would cost a round trip for
//     security.capability.
//   - FLUSH answers ENOSYS once, so close(2) costs nothing.
//   - Symlink targets are cached by the kernel (exec paths cross /bin,
//     /lib64 and the ld.so link every time), READDIRPLUS is off (it would
//     classify every entry of every listed directory), and a directory is
//     read from the host only when the kernel's listing cache is empty.
//   - Inode numbers are the server's, not the host's; hard links on the host
//     appear as separate files. A trusted file is identified by its host path,
//     so the host cannot substitute one trusted file for another by linking.
//   - chown is accepted only to the ids the app already sees (Config.UID/GID).
//
// # Traps
//
//   - Never exec a program from the view in the process that serves it (as
//     a Go child of it): Go's fork waits for the child's exec, which waits for
//     FUSE requests. Tests and benchmarks go through chroot(8); nacre's
//     sandbox runs the app in another process anyway.
//   - The serving process must not os.Open files of a view it serves with
//     Serve before the kernel has seen one POLL answered: Go registers the
//     file with epoll, epoll_ctl waits for the POLL reply without releasing
//     its scheduler slot, and with GOMAXPROCS=1 nothing serves it. go-fuse's
//     Mount avoids this with its "poll hack"; Serve cannot, as it does not
//     know the mount point. Other processes (the app, the sandbox's stage 2)
//     are not affected.
//   - The size of a trusted file without an index entry is the host's at
//     LOOKUP until the first read hashes it; after that the verified size.
//   - Every FUSE READ of a page not yet cached invalidates the inode's atime,
//     so the next stat(2) costs one GETATTR, unless the mount is read-only.
//   - READ and WRITE requests are at most 128 KiB (max_pages 32, server.go).
//     Kernel readahead windows are 128 KiB unless root raises
//     /sys/class/bdi/<fuse bdi>/read_ahead_kb (the sandbox does, to 1 MiB,
//     when nacre runs as host root); the kernel sends a 1 MiB window as up
//     to eight READs at once, so a page fault waits only for the READ that
//     holds its page.
//
// # Profiling
//
// With $NACRE_FUSE_STATS set to a file name, the server counts its requests
// by opcode into that file (stats.go); bench/README.md shows how to use it.
package fileserver
