package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The manifest of the encrypted-root tests: bash from trusted chroot mounts
// (the runtime directory at /lib, so the ELF interpreter comes from nacre's
// /lib64 alias) on top of an encrypted fs.root.
const encRootTemplate = `
libos.entrypoint = "/usr/bin/bash"
loader.env.LD_LIBRARY_PATH = "/lib:{{ arch_libdir }}:/usr{{ arch_libdir }}"
loader.env.PATH = "/usr/bin"
loader.env.LANG = "C"
loader.insecure__use_cmdline_argv = true

fs.root = { type = "encrypted", uri = "file:enc_root", key_name = "rootkey" }
fs.insecure__keys.rootkey = "00112233445566778899aabbccddeeff"

fs.mounts = [
  { path = "/lib", uri = "file:{{ gramine.runtimedir() }}" },
  { path = "{{ arch_libdir }}", uri = "file:{{ arch_libdir }}" },
  { path = "/usr{{ arch_libdir }}", uri = "file:/usr{{ arch_libdir }}" },
  { path = "/usr/bin", uri = "file:/usr/bin" },
  { type = "tmpfs", path = "/tmp" },
]

sgx.trusted_files = [
  "file:{{ gramine.runtimedir() }}/",
  "file:{{ arch_libdir }}/",
  "file:/usr{{ arch_libdir }}/",
  "file:/usr/bin/bash",
  "file:/usr/bin/cat",
  "file:/usr/bin/mkdir",
  "file:/usr/bin/id",
]
`

var encRootKey = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

// encRootDir renders and signs the manifest in a fresh directory with an
// empty enc_root, readable by the unprivileged test user.
func encRootDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(workRoot, "encroot-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(filepath.Join(dir, "enc_root"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "er.manifest.template"), []byte(encRootTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"manifest", "-Darch_libdir=/lib/x86_64-linux-gnu", "er.manifest.template", "er.manifest"},
		{"sign", "--key", keyFile, "--manifest", "er.manifest", "--output", "er.manifest.sgx"},
	} {
		cmd := exec.Command(nacreBin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nacre %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "root.key"), encRootKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostFiles lists enc_root's entries (relative paths, directories with a
// trailing slash).
func hostFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if info.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

// decrypt checks that the host file rel of enc_root is a protected file
// bound to its path that decrypts to want, and that want is not in its bytes.
func decrypt(t *testing.T, dir, rel, want string) {
	t.Helper()
	host := filepath.Join("enc_root", rel)
	raw, err := os.ReadFile(filepath.Join(dir, host))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(strings.TrimSpace(want))) {
		t.Errorf("%s holds the plaintext", host)
	}
	plain := filepath.Join(dir, "plain-"+strings.ReplaceAll(rel, "/", "_"))
	os.Remove(plain)
	cmd := exec.Command(nacreBin, "pf", "decrypt", "-w", "root.key", "-i", host, "-o", plain, "-V")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nacre pf decrypt %s: %v\n%s", host, err, out)
	}
	if got, _ := os.ReadFile(plain); string(got) != want {
		t.Errorf("%s decrypts to %q, want %q", host, got, want)
	}
}

func TestEncryptedRoot(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/usr/bin/bash"); err != nil {
		t.Skip("no /usr/bin/bash")
	}
	dir := encRootDir(t)
	const secret = "plaintext-marker-4f1d9c"
	run := func(o runOpts, manifest, script string) result {
		t.Helper()
		o.dir = dir
		return nacre(t, o, "run", manifest, "-c", script)
	}

	r := run(runOpts{}, "er.manifest.sgx", "echo "+secret+" >/out.txt && mkdir -p /d && echo two >/d/f && cat /out.txt")
	if r.code != 0 {
		t.Fatalf("first run: exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "first run", r.stdout, secret)

	r = run(runOpts{}, "er.manifest.sgx", "cat /out.txt /d/f; cd / && echo *; /usr/bin/bash -c 'echo child-ok'")
	if r.code != 0 {
		t.Fatalf("second run: exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "second run", r.stdout, secret+"\ntwo\n", "d dev lib lib64 out.txt proc tmp usr\n", "child-ok")

	// The host directory holds only what the application wrote, encrypted:
	// no mount point was created in it.
	if got, want := strings.Join(hostFiles(t, filepath.Join(dir, "enc_root")), " "), "d/ d/f out.txt"; got != want {
		t.Errorf("enc_root holds %s, want %s", got, want)
	}
	decrypt(t, dir, "out.txt", secret+"\n")
	decrypt(t, dir, "d/f", "two\n")

	// A wrong key: the files fail their integrity check (EIO), as in the
	// encrypted mounts. The rendered, unsigned manifest is enough here.
	m, err := os.ReadFile(filepath.Join(dir, "er.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(m, []byte("00112233445566778899aabbccddeeff"), []byte("ffeeddccbbaa99887766554433221100"), 1)
	if bytes.Equal(bad, m) {
		t.Fatal("key not found in the rendered manifest")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.manifest"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(runOpts{}, "bad.manifest", "cat /out.txt && echo READ")
	if r.code == 0 || strings.Contains(r.stdout, "READ") || strings.Contains(r.stdout, secret) {
		t.Fatalf("wrong key: exit %d\nstdout:%s", r.code, r.stdout)
	}
	mustContain(t, "wrong-key stderr", r.stderr, "Input/output error", "integrity")

	t.Run("rootless", func(t *testing.T) {
		if out, err := exec.Command("chown", "-R", "nacretest:", filepath.Join(dir, "enc_root")).CombinedOutput(); err != nil {
			t.Skipf("chown: %v %s", err, out)
		}
		o := runOpts{asUser: "nacretest"}
		r := run(o, "er.manifest.sgx", "cat /out.txt && echo rootless >/r.txt && id -u")
		if r.code != 0 {
			t.Fatalf("rootless: exit %d\nstdout:%s\nstderr:%s", r.code, r.stdout, r.stderr)
		}
		mustContain(t, "rootless", r.stdout, secret+"\n0\n")
		decrypt(t, dir, "r.txt", "rootless\n")
	})
}
