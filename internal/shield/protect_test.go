package shield

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/verifiedcache"
)

// An encrypted mount is served by pffs, not the file server, so it cannot
// keep the app out of a store of verified copies: one that is, lies in or
// holds a store location is refused.
func TestEncryptedMountOverStoreRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	store := filepath.Join(dir, "shm", "store")
	t.Setenv(verifiedcache.EnvDir, store)
	for _, d := range []string{"shm/store/sub", "enc"} {
		os.MkdirAll(d, 0o755)
	}
	for uri, bad := range map[string]bool{
		"file:shm": true, "file:shm/store": true, "file:shm/store/sub": true, "file:" + dir: true, "file:enc": false,
	} {
		l := load(t, dir, `
libos.entrypoint = "/bin/app"
fs.mounts = [ { type = "encrypted", path = "/enc", uri = "`+uri+`", key_name = "k1" } ]
`)
		fc, _, err := l.fileView(nil)
		switch {
		case bad && (err == nil || !strings.Contains(err.Error(), "verified copies")):
			t.Errorf("encrypted mount of %s: err = %v, want a refusal", uri, err)
		case !bad && err != nil:
			t.Errorf("encrypted mount of %s: %v", uri, err)
		case !bad && !slices.Contains(fc.Protected, store):
			t.Errorf("file server's protected set %v lacks %s", fc.Protected, store)
		}
	}
}
