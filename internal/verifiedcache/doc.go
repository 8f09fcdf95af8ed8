// Package verifiedcache owns copies of trusted-file contents held in guest
// memory (a tmpfs directory), keyed by the SHA-256 of the whole file bound
// to the host file's identity (internal/fileserver makes the key), so that
// a later nacre run can serve a trusted file without reading it from the host
// and hashing it again.
//
// # Why a copy may be trusted
//
// The threat model puts the host's disks outside the TEE and the guest kernel
// and guest RAM inside it. A copy lives in tmpfs, i.e. in guest RAM, and is
// only ever made from bytes that internal/fileserver has already checked
// against the signed manifest's chunk hashes: a Builder collects such bytes in
// an unnamed O_TMPFILE file and gives it a name only when every page of the
// file was written, so a copy either holds the whole verified file or does
// not exist. Its name is a key its user derives from the manifest's
// whole-file SHA-256; a file changed on the host after signing never
// verifies, so no copy of it is ever made, and a copy of the signed content
// is exactly what verification would accept.
//
// What remains is that nobody else may write the store. Open refuses a
// directory that is not on tmpfs or ramfs (statfs), not owned by the
// effective uid, not mode 0700 or a symlink (checked on the opened fd, which
// is used for everything after), and Lookup accepts only regular files owned
// by the effective uid, not writable by group or others, with one link and
// the expected size. So only processes of nacre's own uid (or root) in the
// guest can change a copy, and those can already change nacre itself. The
// sandboxed app has its own /dev/shm; where a manifest would let it write
// the host's through the file server, every run's file server (whether it
// uses the store or not) refuses the directories of Protected, and
// internal/shield refuses encrypted and device mounts that Overlaps them.
// prepare creates the store walking from "/" with O_NOFOLLOW, so that a
// symlink planted in /dev/shm cannot redirect it.
//
// # Budget
//
// The store holds at most Max bytes (default 1/16 of MemTotal, at most 1 GiB
// and half the store's filesystem; $NACRE_VERIFIED_CACHE_MAX, required on
// ramfs); a file larger than half of it is never stored. Unfinished copies
// count against it from NewBuilder on (budget.go).
// A hit touches the copy's mtime; after a publish takes the store over its
// budget, the copies with the oldest mtime are removed. Concurrent runs share
// the store: publishing is a link to a random name and a rename over the
// final one, and every reader tolerates a copy vanishing (ENOENT is a miss).
package verifiedcache
