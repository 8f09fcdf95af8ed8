package e2e

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// freshCache returns $NACRE_VERIFIED_CACHE for a new, empty store under
// /dev/shm whose parent belongs to asUser (or root).
func freshCache(t *testing.T, asUser string) string {
	t.Helper()
	parent, err := os.MkdirTemp("/dev/shm", "nacre-e2e-cache-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if asUser != "" {
		u, err := user.Lookup(asUser)
		if err != nil {
			t.Skipf("no user %s: %v", asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(parent, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(parent, "verified")
}

// countLines counts stderr lines with msg that mention path.
func countLines(stderr, msg, path string) int {
	n := 0
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, msg) && strings.Contains(l, path) {
			n++
		}
	}
	return n
}

// The second run of a manifest serves trusted files from the copies the
// first run made; a trusted file changed on the host after signing fails on
// every run, even with a copy of its signed content in the store, and no
// copy of the changed content ever exists.
func TestVerifiedCopies(t *testing.T) {
	requireRoot(t)
	dir := bashExample(t)
	script := filepath.Join(dir, "scripts", "pipeline.sh")
	signed, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, asUser string
		env          []string
		hit          string // the log line of a served copy
	}{
		{"root", "", nil, "copy hit"},
		{"root-passthrough", "", []string{"NACRE_VERIFIED_PASSTHROUGH=1"}, "copy passthrough"},
		{"rootless", "nacretest", nil, "copy hit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := freshCache(t, c.asUser)
			o := runOpts{dir: dir, asUser: c.asUser, env: append([]string{"NACRE_VERIFIED_CACHE=" + cache}, c.env...)}
			run := func(o runOpts) result {
				return nacre(t, o, "--log-level", "debug", "run", "bash.manifest.sgx", "-c", "cat pipeline.sh")
			}
			first := run(o)
			if first.code != 0 {
				t.Fatalf("first run: exit %d\n%s", first.code, first.stderr)
			}
			if countLines(first.stderr, "copy built", "pipeline.sh") != 1 {
				t.Errorf("first run built no copy of pipeline.sh:\n%s", first.stderr)
			}
			second := run(o)
			if second.code != 0 || second.stdout != first.stdout {
				t.Fatalf("second run: exit %d, output differs: %v\n%s", second.code, second.stdout != first.stdout, second.stderr)
			}
			if countLines(second.stderr, c.hit, "pipeline.sh") == 0 || countLines(second.stderr, c.hit, "/bash") == 0 {
				t.Errorf("second run did not serve pipeline.sh and bash from copies (%q):\n%s", c.hit, second.stderr)
			}
			if countLines(second.stderr, "verified read", "pipeline.sh") != 0 {
				t.Error("second run read pipeline.sh from the host")
			}

			// The host file is tampered with after the runs above put a copy
			// of its signed content in the store: it fails on every run, and
			// no copy of it is made or used.
			if err := os.WriteFile(script, append(append([]byte{}, signed...), "\necho injected\n"...), 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(script, signed, 0o755)
			to := o
			for i := range 2 {
				r := run(to)
				if r.code == 0 || strings.Contains(r.stdout, "injected") || !strings.Contains(strings.ToLower(r.stderr), "mismatch") {
					t.Fatalf("run %d of a tampered file: exit %d, stdout %q\n%s", i+1, r.code, r.stdout, r.stderr)
				}
				if n := countLines(r.stderr, "copy hit", "pipeline.sh") + countLines(r.stderr, "copy built", "pipeline.sh"); n != 0 {
					t.Errorf("run %d: a copy of the tampered file was built or used", i+1)
				}
			}
		})
	}
}
