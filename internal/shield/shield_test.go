package shield

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, dir, text string) *Loaded {
	t.Helper()
	p := filepath.Join(dir, "app.manifest")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(p)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func TestFileViewAndSandboxConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("rt", 0o755)
	os.MkdirAll("data", 0o755)
	os.WriteFile("rt/ld-linux-x86-64.so.2", []byte("loader"), 0o644)
	os.WriteFile("rt/libc.so.6", []byte("libc"), 0o644)
	l := load(t, dir, `
libos.entrypoint = "bin/app"
loader.argv = ["app", "one"]
loader.env.A = "1"
loader.env.HOME = { passthrough = true }
loader.uid = 1000
loader.gid = 1000
fs.start_dir = "/work"
fs.mounts = [
  { path = "/lib", uri = "file:rt" },
  { path = "/data", uri = "file:data" },
  { type = "tmpfs", path = "/tmp" },
]
sys.fds.limit = 123
sgx.trusted_files = ["file:rt/"]
sgx.allowed_files = ["file:data/"]
`)
	fc, mounts, err := l.fileView(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Mounts) != 3 || fc.Mounts[0].Path != "/" || fc.Mounts[0].Host != dir || fc.Mounts[1].Host != filepath.Join(dir, "rt") {
		t.Errorf("mounts = %+v", fc.Mounts)
	}
	if len(mounts) != 1 || mounts[0].Kind != "tmpfs" || mounts[0].Path != "/tmp" {
		t.Errorf("sandbox mounts = %+v", mounts)
	}
	if got := strings.Join(fc.MountPoints, ","); got != "/proc,/dev,/tmp" {
		t.Errorf("mount points = %s", got)
	}
	if len(fc.Allowed) != 1 || fc.Allowed[0] != filepath.Join(dir, "data") {
		t.Errorf("allowed = %v", fc.Allowed)
	}
	if !fc.Trusted.Contains(filepath.Join(dir, "rt", "libc.so.6")) {
		t.Error("expanded trusted file missing from the set")
	}
	if got := fc.Aliases["/lib64/ld-linux-x86-64.so.2"]; got != filepath.Join(dir, "rt", "ld-linux-x86-64.so.2") {
		t.Errorf("interpreter alias = %q", got)
	}

	t.Setenv("HOME", "/home/x")
	sc, err := l.sandboxConfig(Options{Env: []string{"HOME=/home/x", "SECRET=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Path != "/work/bin/app" || sc.Dir != "/work" || strings.Join(sc.Args, " ") != "app one" {
		t.Errorf("path %q dir %q args %q", sc.Path, sc.Dir, sc.Args)
	}
	if env := strings.Join(sc.Env, " "); env != "A=1 HOME=/home/x" {
		t.Errorf("env = %q (host-only variables must not leak)", env)
	}
	if sc.UID != 1000 || sc.GID != 1000 || sc.NoFiles != 123 || sc.StackSize != 0 {
		t.Errorf("uid %d gid %d nofiles %d stack %d", sc.UID, sc.GID, sc.NoFiles, sc.StackSize)
	}
}

func TestEncryptedMountIsServedByPF(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l := load(t, dir, `
libos.entrypoint = "/app"
fs.mounts = [ { type = "encrypted", path = "/enc", uri = "file:enc", key_name = "k1" } ]
fs.insecure__keys.k1 = "00112233445566778899aabbccddeeff"
`)
	fc, mounts, err := l.fileView(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Kind != "fuse" || mounts[0].Path != "/enc" || mounts[0].Name != "pf" {
		t.Fatalf("mounts = %+v", mounts)
	}
	if got := strings.Join(fc.MountPoints, ","); got != "/proc,/dev,/enc" {
		t.Errorf("mount points = %s", got)
	}
	if len(l.encrypted) != 1 || l.encrypted[0].host != filepath.Join(dir, "enc") || l.encrypted[0].KeyName != "k1" {
		t.Errorf("encrypted = %+v", l.encrypted)
	}
}

func TestBannerListsInsecureSettings(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l := load(t, dir, `
libos.entrypoint = "/app"
loader.insecure__use_cmdline_argv = true
sgx.debug = true
sgx.file_check_policy = "allow_all_but_log"
sgx.allowed_files = ["file:x"]
`)
	var b bytes.Buffer
	Banner(&b, l, "none")
	for _, want := range []string{"NOT SIGNED", "direct mode", "insecure__use_cmdline_argv", "sgx.debug", "allow_all_but_log", "allowed_files"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}
}

func TestResolveManifestPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("app.manifest.sgx", nil, 0o644)
	if p, err := ResolveManifestPath("app"); err != nil || p != "app.manifest.sgx" {
		t.Errorf("got %q, %v", p, err)
	}
	if _, err := ResolveManifestPath("missing"); err == nil {
		t.Error("missing manifest accepted")
	}
	// The program beside its manifest, under the application's name (as
	// Gramine's examples have it): the name means the manifest.
	os.WriteFile("app", []byte("\x7fELF"), 0o755)
	if p, err := ResolveManifestPath("app"); err != nil || p != "app.manifest.sgx" {
		t.Errorf("with the binary beside it: got %q, %v", p, err)
	}
	// A manifest path is taken as is.
	os.WriteFile("other.toml", nil, 0o644)
	if p, err := ResolveManifestPath("other.toml"); err != nil || p != "other.toml" {
		t.Errorf("explicit path: got %q, %v", p, err)
	}
	if p, err := ResolveManifestPath("app.manifest.sgx"); err != nil || p != "app.manifest.sgx" {
		t.Errorf("explicit signed manifest: got %q, %v", p, err)
	}
}

func TestSanitizeResolvConf(t *testing.T) {
	in := "# comment\nnameserver 10.0.0.2\nsearch corp.example example\noptions ndots:5 edns0 timeout:1 rotate\nsortlist 10.0.0.0/8\ndomain evil.example\nnameserver\n"
	want := "nameserver 10.0.0.2\nsearch corp.example example\noptions edns0 rotate\n"
	if got := sanitizeResolvConf(in); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	dir, files, err := domainNameFiles("box")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if b, _ := os.ReadFile(files["/etc/hostname"]); string(b) != "box\n" {
		t.Errorf("hostname file %q", b)
	}
	if _, ok := files["/etc/resolv.conf"]; !ok {
		t.Error("no resolv.conf")
	}
}
