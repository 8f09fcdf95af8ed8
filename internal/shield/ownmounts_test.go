package shield

import (
	"os"
	"strings"
	"testing"
)

// A host directory mounted at or under /proc or /dev would lie under the
// shield's own /proc and /dev and never be seen: refused with the key.
func TestMountUnderShieldOwnRefused(t *testing.T) {
	for _, tc := range []struct {
		mount string
		bad   bool
	}{
		{`{ path = "/dev/shm", uri = "file:data" }`, true},
		{`{ path = "/proc", uri = "file:data" }`, true},
		{`{ path = "/x/../../proc/y", uri = "file:data" }`, true},
		{`{ path = "/dev", type = "encrypted", uri = "file:data", key_name = "k" }`, true},
		{`{ path = "/devices", uri = "file:data" }`, false},
		{`{ path = "/procs/x", uri = "file:data" }`, false},
		{`{ path = "/dev/shm", type = "tmpfs" }`, false}, // the sandbox decides
		{`{ path = "/proc/x", type = "tmpfs" }`, true},   // hidden by the moved /proc
	} {
		dir := t.TempDir()
		t.Chdir(dir)
		os.MkdirAll("data", 0o755)
		l := load(t, dir, "libos.entrypoint = \"/bin/true\"\nfs.insecure__keys.k = \"00112233445566778899aabbccddeeff\"\nfs.mounts = [ "+tc.mount+" ]\n")
		_, _, err := l.fileView(nil)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "fs.mounts") || !strings.Contains(err.Error(), "shield's own") {
				t.Errorf("%s: err = %v, want a refusal naming fs.mounts", tc.mount, err)
			}
		} else if err != nil && strings.Contains(err.Error(), "shield's own") {
			t.Errorf("%s: refused: %v", tc.mount, err)
		}
	}
}

// An encrypted mount written with a trailing slash (Gramine's sqlite
// example has path = "/db/") is found again under its clean path.
func TestEncryptedMountTrailingSlash(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("db", 0o755)
	l := load(t, dir, "libos.entrypoint = \"/bin/true\"\nfs.insecure__keys.k = \"00112233445566778899aabbccddeeff\"\n"+
		"fs.mounts = [ { type = \"encrypted\", path = \"/db/\", uri = \"file:db/\", key_name = \"k\" } ]\n")
	_, mounts, err := l.fileView(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Path != "/db" || len(l.encrypted) != 1 || l.encrypted[0].Path != mounts[0].Path {
		t.Fatalf("sandbox mounts %+v, encrypted %+v: paths differ", mounts, l.encrypted)
	}
}

// trustedUnder answers for every directory above a trusted file, only those.
func TestTrustedUnder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("data/e/sub", 0o755)
	os.WriteFile("data/e/sub/x", []byte("x"), 0o644)
	os.WriteFile("data/y", []byte("y"), 0o644)
	l := load(t, dir, "libos.entrypoint = \"/bin/true\"\nsgx.trusted_files = [\"file:data/e/sub/x\", \"file:data/y\"]\n")
	under := l.trustedUnder()
	for p, want := range map[string]bool{
		dir + "/data": true, dir + "/data/e": true, dir + "/data/e/sub": true, dir + "/data/e/": true,
		dir + "/data/e/sub/x": false, dir + "/data/y": false, dir + "/data/f": false, dir + "/dat": false,
	} {
		if got := under(p); got != want {
			t.Errorf("trustedUnder(%s) = %v, want %v", p, got, want)
		}
	}
}
