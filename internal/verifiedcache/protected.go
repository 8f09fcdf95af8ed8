package verifiedcache

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Protected returns the directories that must stay out of every app's
// reach, for this effective uid: each place DefaultDir may choose for a
// store (whatever this run chooses, and whether or not its cache is on,
// since another run may use another one) and the directory nacre creates to
// hold it: /run/nacre/verified, $XDG_RUNTIME_DIR/nacre/verified,
// /dev/shm/nacre-<uid>/verified, their parents, and $NACRE_VERIFIED_CACHE
// with its parent when set (unless the parent is "/"). For root, also every
// user's default locations, as shell patterns (see internal/fileserver's
// Config.Protected). internal/fileserver
// refuses lookups of these directories and the creation of entries with
// their names (see its protect.go); internal/shield refuses other mounts of
// them.
func Protected() []string {
	var out []string
	add := func(store string, parent bool) {
		store = filepath.Clean(store)
		out = append(out, store)
		if p := filepath.Dir(store); parent && p != "/" {
			out = append(out, p)
		}
	}
	add("/run/nacre/verified", true)
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		add(filepath.Join(x, "nacre", "verified"), true)
	}
	add(fmt.Sprintf("/dev/shm/nacre-%d/verified", os.Geteuid()), true)
	if os.Geteuid() == 0 {
		// Root's file server could also write every other user's store,
		// and give a planted file that user's uid (chown to the app's).
		out = append(out, "/dev/shm/nacre-*", "/dev/shm/nacre-*/verified",
			"/run/user/*/nacre", "/run/user/*/nacre/verified")
	}
	if d := os.Getenv(EnvDir); d != "" && d != "off" {
		if abs, err := filepath.Abs(d); err == nil {
			add(abs, true)
		}
	}
	return out
}

// Overlaps reports the entry of protected (see Protected) that host path p
// is, lies in, or is an ancestor of, comparing paths with symlinks resolved
// and inodes (so that a bind mount of an ancestor is seen too). A mount
// that the file server does not serve (an encrypted mount, a device) must
// not overlap: the app could write there directly.
func Overlaps(p string, protected []string) (string, bool) {
	rp := resolve(p)
	pIDs := ancestorIDs(rp) // p and its ancestors
	var self [2]uint64
	var st unix.Stat_t
	hasSelf := unix.Stat(rp, &st) == nil
	if hasSelf {
		self = [2]uint64{uint64(st.Dev), st.Ino}
	}
	var all []string
	for _, q := range protected {
		all = append(all, q)
		if m, _ := filepath.Glob(q); len(m) > 0 {
			all = append(all, m...) // e.g. /dev/shm/nacre-* (root)
		}
	}
	for _, q := range all {
		rq := resolve(q)
		if within(rp, rq) || within(rq, rp) {
			return q, true
		}
		if unix.Stat(rq, &st) == nil && pIDs[[2]uint64{uint64(st.Dev), st.Ino}] {
			return q, true // p is q or lies inside it (through any mount)
		}
		if hasSelf && ancestorIDs(rq)[self] {
			return q, true // p is (a bind mount of) an ancestor of q
		}
	}
	return "", false
}

// ancestorIDs returns the (device, inode) of p and of each of its existing
// ancestors.
func ancestorIDs(p string) map[[2]uint64]bool {
	ids := map[[2]uint64]bool{}
	var st unix.Stat_t
	for a := filepath.Clean(p); ; a = filepath.Dir(a) {
		if unix.Stat(a, &st) == nil {
			ids[[2]uint64{uint64(st.Dev), st.Ino}] = true
		}
		if a == "/" || a == "." {
			return ids
		}
	}
}
