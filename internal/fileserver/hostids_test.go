package fileserver

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// A rootless server shows allowed files of other host users as the host
// treats it: unowned, with the group or other bits it gets.
func TestFillAttrRootlessForeignFile(t *testing.T) {
	s := &Server{host: hostIDs{uid: 1000, gids: map[uint32]bool{1000: true, 27: true}}}
	s.cfg.UID, s.cfg.GID = 0, 0
	for _, tc := range []struct {
		uid, gid  uint32
		mode      uint32
		wantOwner uint32
		wantPerm  uint32
	}{
		{0, 0, 0o600, noOwner, 0o000},  // root's private file: no access
		{0, 0, 0o644, noOwner, 0o444},  // readable by others
		{0, 0, 0o666, 0, 0o666},        // world-writable: owned, nothing to override
		{0, 0, 0o642, noOwner, 0o222},  // write-only for others: unowned
		{0, 27, 0o660, 0, 0o666},       // group member, read-write: owned
		{0, 27, 0o604, noOwner, 0o000}, // group member gets group bits, not other
		{1000, 1000, 0o600, 0, 0o600},  // the server's own file: the app owns it
		{0, 0, 0o4755, noOwner, 0o555}, // setuid never shown
	} {
		var out fuse.Attr
		st := unix.Stat_t{Uid: tc.uid, Gid: tc.gid, Mode: unix.S_IFREG | tc.mode}
		s.fillAttr(&out, &st, classAllowed, false)
		if out.Uid != tc.wantOwner || out.Mode&0o7777 != tc.wantPerm {
			t.Errorf("host %d:%d %o: got owner %d mode %o, want %d %o", tc.uid, tc.gid, tc.mode, out.Uid, out.Mode&0o7777, tc.wantOwner, tc.wantPerm)
		}
	}
	// Host root's server keeps the app as the owner.
	s.host = hostIDs{root: true}
	var out fuse.Attr
	st := unix.Stat_t{Uid: 0, Mode: unix.S_IFREG | 0o600}
	s.fillAttr(&out, &st, classAllowed, false)
	if out.Uid != 0 || out.Mode&0o777 != 0o600 {
		t.Errorf("root server: owner %d mode %o", out.Uid, out.Mode&0o777)
	}
}
