package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T, name string) *Manifest {
	t.Helper()
	m, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return m
}

func TestParseExamples(t *testing.T) {
	redis := load(t, "redis.manifest")
	if redis.LibOS.Entrypoint != "/usr/bin/redis-server" || len(redis.Loader.Argv) != 5 || redis.Loader.Argv[2] != "" {
		t.Errorf("redis loader/libos: %+v %+v", redis.Loader, redis.LibOS)
	}
	if len(redis.FS.Mounts) != 5 || redis.FS.Mounts[0].Type != MountChroot || redis.FS.Mounts[0].Path != "/lib" {
		t.Errorf("redis mounts: %+v", redis.FS.Mounts)
	}
	if redis.FS.Root != (Mount{Type: MountChroot, Path: "/", URI: "file:."}) || redis.FS.StartDir != "/" {
		t.Errorf("redis default root: %+v %q", redis.FS.Root, redis.FS.StartDir)
	}
	if redis.Sys.StackSize != 2<<20 || redis.Sys.BrkMaxSize != 32<<20 || redis.Sys.FDsLimit != 900 || !redis.Sys.EnableSigtermInjection {
		t.Errorf("redis sys: %+v", redis.Sys)
	}
	if redis.SGX.ISVProdID != 1 || redis.SGX.ISVSVN != 2 || redis.SGX.RemoteAttestation != AttestationNone {
		t.Errorf("redis sgx: %+v", redis.SGX)
	}
	if len(redis.TrustedFiles) != 4 || redis.TrustedFiles[3].SHA256 == "" || redis.TrustedFiles[1].SHA256 != "" {
		t.Errorf("redis trusted: %+v", redis.TrustedFiles)
	}
	if !slices.Equal(redis.AllowedFiles, []string{"file:/etc/hosts"}) || redis.FileCheckPolicy != PolicyStrict {
		t.Errorf("redis allowed/policy: %v %v", redis.AllowedFiles, redis.FileCheckPolicy)
	}
	if !slices.Equal(redis.Ignored, []string{"sgx.edmm_enable", "sgx.enclave_size", "sgx.max_threads"}) {
		t.Errorf("redis ignored: %v", redis.Ignored)
	}
	if redis.Loader.EntrypointURI == "" {
		t.Errorf("loader.entrypoint.uri not recorded")
	}

	py := load(t, "python.manifest")
	wantEnv := []EnvVar{{Name: "HOME", Passthrough: true}, {Name: "LD_LIBRARY_PATH", Value: "/lib:/usr/lib:/lib/x86_64-linux-gnu"},
		{Name: "OMP_NUM_THREADS", Value: "4"}, {Name: "PYTHONDONTWRITEBYTECODE", Value: "1"}}
	if !reflect.DeepEqual(py.Loader.Env, wantEnv) {
		t.Errorf("python env: %+v", py.Loader.Env)
	}
	if !py.Loader.UseCmdlineArgv || py.Loader.UID != 1000 || py.Loader.LogLevel != "warning" || py.FS.StartDir != "/app" {
		t.Errorf("python loader: %+v", py.Loader)
	}
	if len(py.FS.Mounts) != 4 || py.FS.Mounts[2].Type != MountTmpfs || py.Sys.StackSize != 1<<20 {
		t.Errorf("python fs/sys: %+v %+v", py.FS.Mounts, py.Sys)
	}
	if !py.SGX.Debug || py.SGX.RemoteAttestation != AttestationDCAP || py.FileCheckPolicy != PolicyAllowAllButLog {
		t.Errorf("python sgx: %+v", py.SGX)
	}

	bash := load(t, "bash.manifest")
	if bash.Loader.ArgvSrcFile != "file:bash_args" || bash.Loader.EnvSrcFile != "file:bash_env" || bash.FS.Root.URI != "file:/" ||
		bash.LibOS.CheckInvalidPointers || bash.Sys.FDsLimit != 1024 {
		t.Errorf("bash: %+v %+v", bash.Loader, bash.FS)
	}

	sq := load(t, "sqlite.manifest")
	enc := sq.FS.Mounts[1]
	if enc != (Mount{Type: MountEncrypted, Path: "/db/", URI: "file:db/", KeyName: "default", EnableRecovery: true}) {
		t.Errorf("sqlite encrypted mount: %+v", enc)
	}
	if sq.FS.Mounts[2].KeyName != "default" {
		t.Errorf("encrypted key_name default: %+v", sq.FS.Mounts[2])
	}
	if k := sq.FS.InsecureKeys["default"]; k[0] != 0xff || k[15] != 0 {
		t.Errorf("insecure key: %x", k)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"redis.manifest", "python.manifest", "bash.manifest", "sqlite.manifest"} {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			out, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Parse("again", out)
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(m.Tree(), m2.Tree()) {
				t.Errorf("tree changed by Marshal/Parse")
			}
			m2.File = m.File
			m2.lines = m.lines
			if !reflect.DeepEqual(m, m2) {
				t.Errorf("typed view changed by Marshal/Parse:\n%+v\n%+v", m, m2)
			}
			out2, err := m2.Marshal()
			if err != nil || string(out2) != string(out) {
				t.Errorf("Marshal not idempotent: %v\n%s\n---\n%s", err, out, out2)
			}
		})
	}
}

func TestMarshalCanonical(t *testing.T) {
	src := `libos.entrypoint = "/bin/sh"
loader.env."A.B" = "x\"y\\z\n\u0001é"
loader.argv = ["sh", "-c", "echo 'hi'"]
fs.mounts = [{ uri = "file:/lib", path = "/lib" }, { type = "tmpfs", path = "/tmp" }]
sgx.isvsvn = 7
sgx.debug = false
sys.ioctl_structs.s = [{ size = 1.5, ptr = [{ size = 0 }] }]
sys.ioctl_structs.e = {}
`
	m, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `fs.mounts = [
  { path = "/lib", uri = "file:/lib" },
  { path = "/tmp", type = "tmpfs" },
]
libos.entrypoint = "/bin/sh"
loader.argv = [
  "sh",
  "-c",
  "echo 'hi'",
]
loader.env."A.B" = "x\"y\\z\n\u0001é"
sgx.debug = false
sgx.isvsvn = 7
sys.ioctl_structs.e = {}
sys.ioctl_structs.s = [
  { ptr = [{ size = 0 }], size = 1.5 },
]
`
	if string(out) != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", out, want)
	}
}

func TestParseErrors(t *testing.T) {
	const base = "libos.entrypoint = \"/bin/sh\"\n"
	tests := []struct {
		name, src string
		line      int
		key       string
		msg       string // substring
		suggest   string
	}{
		{"unknown key", base + "loader.argvv = [\"a\"]\n", 2, "loader.argvv", "unknown key", "loader.argv"},
		{"unknown section", base + "sgxx.debug = true\n", 2, "sgxx", "unknown key", "sgx"},
		{"unknown env table", base + "loader.evn.PATH = \"/bin\"\n", 2, "loader.evn", "unknown key", "loader.env"},
		{"unknown in table", base + "[sys]\nstack.sise = \"1M\"\n", 3, "sys.stack.sise", "unknown key", "sys.stack.size"},
		{"unknown mount key", base + "[[fs.mounts]]\npath = \"/a\"\nuri = \"file:a\"\nkey_nam = \"x\"\n", 5, "fs.mounts[0].key_nam", "unknown key", "fs.mounts[0].key_name"},
		{"wrong type bool", base + "sgx.debug = 1\n", 2, "sgx.debug", "must be a boolean", ""},
		{"wrong type string", base + "loader.log_file = 3\n", 2, "loader.log_file", "must be a string", ""},
		{"bad enum", base + "loader.log_level = \"verbose\"\n", 2, "loader.log_level", "not one of", ""},
		{"isvsvn range", base + "sgx.isvsvn = 65536\n", 2, "sgx.isvsvn", "out of range", ""},
		{"negative uid", base + "loader.uid = -1\n", 2, "loader.uid", "out of range", ""},
		{"bad size", base + "sys.stack.size = \"12X\"\n", 2, "sys.stack.size", "not a number", ""},
		{"size as int", base + "sys.brk.max_size = 4096\n", 2, "sys.brk.max_size", "size string", ""},
		{"missing entrypoint", "loader.argv = [\"a\"]\n", 0, "libos.entrypoint", "required key is missing", ""},
		{"empty argv", base + "loader.argv = []\n", 2, "loader.argv", "must not be empty", ""},
		{"argv exclusive", base + "loader.argv = [\"a\"]\nloader.insecure__use_cmdline_argv = true\n", 3, "loader.insecure__use_cmdline_argv", "mutually exclusive", ""},
		{"argv src exclusive", base + "loader.argv = [\"a\"]\nloader.argv_src_file = \"file:x\"\n", 3, "loader.argv_src_file", "mutually exclusive", ""},
		{"env exclusive", base + "loader.env_src_file = \"file:e\"\nloader.insecure__use_host_env = true\n", 3, "loader.insecure__use_host_env", "cannot be combined", ""},
		{"env both", base + "loader.env.X = { value = \"1\", passthrough = true }\n", 2, "loader.env.X", "cannot be used together", ""},
		{"env passthrough false", base + "loader.env.X = { passthrough = false }\n", 2, "loader.env.X.passthrough", "passthrough = false", ""},
		{"env unknown field", base + "loader.env.X = { valeu = \"1\" }\n", 2, "loader.env.X.valeu", "unknown key", "loader.env.X.value"},
		{"env int", base + "loader.env.X = 3\n", 2, "loader.env.X", "must be a string", ""},
		{"relative mount", base + "fs.mounts = [{ path = \"lib\", uri = \"file:/lib\" }]\n", 2, "fs.mounts[0].path", "must be absolute", ""},
		{"duplicate mount", base + "fs.mounts = [\n { path = \"/lib\", uri = \"file:/a\" },\n { path = \"/lib/\", uri = \"file:/b\" },\n]\n", 4, "fs.mounts[1].path", "already used by fs.mounts[0]", ""},
		{"mount no uri", base + "fs.mounts = [{ path = \"/lib\" }]\n", 2, "fs.mounts[0]", "missing required key \"uri\"", ""},
		{"mount no path", base + "fs.mounts = [{ uri = \"file:/lib\" }]\n", 2, "fs.mounts[0]", "missing required key \"path\"", ""},
		{"untrusted_shm", base + "fs.mounts = [{ type = \"untrusted_shm\", path = \"/dev/shm\", uri = \"dev:/dev/shm\" }]\n", 2, "fs.mounts[0].type", "not supported by nacre", ""},
		{"bad mount type", base + "fs.mounts = [{ type = \"bind\", path = \"/a\", uri = \"file:a\" }]\n", 2, "fs.mounts[0].type", "not one of", ""},
		{"key_name on chroot", base + "fs.mounts = [{ path = \"/a\", uri = \"file:a\", key_name = \"k\" }]\n", 2, "fs.mounts[0].key_name", "only encrypted", ""},
		{"mount uri scheme", base + "fs.mounts = [{ path = \"/a\", uri = \"/a\" }]\n", 2, "fs.mounts[0].uri", "must start with \"file:\"", ""},
		{"insecure key length", base + "fs.insecure__keys.default = \"abcd\"\n", 2, "fs.insecure__keys.default", "32 hex digits", ""},
		{"trusted not file", base + "sgx.trusted_files = [\"/bin/sh\"]\n", 2, "sgx.trusted_files[0]", "must start with \"file:\"", ""},
		{"trusted bad hash", base + "sgx.trusted_files = [{ uri = \"file:/bin/sh\", sha256 = \"xyz\" }]\n", 2, "sgx.trusted_files[0].sha256", "not a SHA-256", ""},
		{"trusted conflict", base + "sgx.trusted_files = [\n{ uri = \"file:/a\", sha256 = \"" + strings.Repeat("a", 64) + "\" },\n{ uri = \"file:/a\", sha256 = \"" + strings.Repeat("b", 64) + "\" },\n]\n", 4, "sgx.trusted_files[1]", "different sha256", ""},
		{"trusted table form", base + "sgx.trusted_files.libc = \"file:/lib/libc.so\"\n", 2, "sgx.trusted_files", "table form", ""},
		{"allowed bad scheme", base + "sgx.allowed_files = [\"http:/x\"]\n", 2, "sgx.allowed_files[0]", "\"dev:\"", ""},
		{"policy", base + "sgx.file_check_policy = \"lax\"\n", 2, "sgx.file_check_policy", "not one of", ""},
		{"ra epid", base + "sgx.remote_attestation = \"epid\"\n", 2, "sgx.remote_attestation", "EPID", ""},
		{"ra bool", base + "sgx.remote_attestation = true\n", 2, "sgx.remote_attestation", "boolean form was removed", ""},
		{"removed exec", base + "loader.exec = \"file:/bin/sh\"\n", 2, "loader.exec", "libos.entrypoint", ""},
		{"removed preload", base + "loader.preload = \"file:x\"\n", 2, "loader.preload", "removed", ""},
		{"removed thread_num", base + "sgx.thread_num = 4\n", 2, "sgx.thread_num", "sgx.max_threads", ""},
		{"removed fs.mount", base + "fs.mount.lib.path = \"/lib\"\n", 2, "fs.mount", "fs.mounts array", ""},
		{"removed protected", base + "sgx.protected_files = [\"file:x\"]\n", 2, "sgx.protected_files", "encrypted mount", ""},
		{"string entrypoint", base + "loader.entrypoint = \"file:libsysdb.so\"\n", 2, "loader.entrypoint", "loader.entrypoint.uri", ""},
		{"sgx-only type", base + "sgx.max_threads = \"4\"\n", 2, "sgx.max_threads", "must be an integer", ""},
		{"sgx-only enum", base + "sgx.cpu_features.mpx = \"unspecified\"\n", 2, "sgx.cpu_features.mpx", "not one of", ""},
		{"root path", base + "fs.root = { path = \"/\", uri = \"file:/\" }\n", 2, "fs.root.path", "always mounted at /", ""},
		{"root untrusted_shm", base + "fs.root.type = \"untrusted_shm\"\nfs.root.uri = \"dev:/x\"\n", 2, "fs.root.type", "not supported", ""},
		{"start dir", base + "fs.start_dir = \"app\"\n", 2, "fs.start_dir", "must be absolute", ""},
		{"not a table", base + "sys.stack = 3\n", 2, "sys.stack", "must be a table", ""},
		{"quoted env key", base + "loader.env.\"A=B\" = \"x\"\n", 2, `loader.env."A=B"`, "not a valid environment variable", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.manifest", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want error about %s", tc.key)
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v (%T) is not a *KeyError", err, err)
			}
			if ke.File != "test.manifest" || ke.Line != tc.line || ke.Key != tc.key || ke.Suggest != tc.suggest || !strings.Contains(ke.Msg, tc.msg) {
				t.Errorf("got %+v\nwant line %d key %q msg ~%q suggest %q", ke, tc.line, tc.key, tc.msg, tc.suggest)
			}
			s := err.Error()
			if !strings.Contains(s, tc.key) || !strings.HasPrefix(s, "test.manifest") {
				t.Errorf("message %q lacks file or key", s)
			}
			if tc.suggest != "" && !strings.Contains(s, "did you mean "+tc.suggest) {
				t.Errorf("message %q lacks suggestion", s)
			}
		})
	}
}

func TestMultipleErrors(t *testing.T) {
	_, err := Parse("m", []byte("libos.entrypoint = 1\nsgx.debug = 2\n"))
	var ke *KeyError
	if err == nil || !errors.As(err, &ke) || !strings.Contains(err.Error(), "sgx.debug") || !strings.Contains(err.Error(), "libos.entrypoint") {
		t.Fatalf("want both errors, got %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	for _, src := range []string{
		"libos.entrypoint = \"/a\"\nsgx.debug = \n",
		"libos.entrypoint = \"/a\"\nlibos.entrypoint = \"/b\"\n",
	} {
		_, err := Parse("s.toml", []byte(src))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 2 || se.Column < 1 || !strings.HasPrefix(err.Error(), "s.toml:2:") {
			t.Errorf("Parse(%q) = %v, want syntax error at s.toml:2:col", src, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{"0": 0, "256": 256, "256K": 256 << 10, "1g": 1 << 30, "16M": 16 << 20, "0x1000": 4096, "0x10M": 16 << 20}
	for s, want := range good {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "K", "-1", "+1", "1T", "1.5M", "0x", "99999999999999999999", "9000000000G"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) succeeded", s)
		}
	}
}

func TestHostPath(t *testing.T) {
	wd, _ := os.Getwd()
	for uri, want := range map[string]string{"file:/a/b": "/a/b", "file:x/y/": filepath.Join(wd, "x/y"), "file:.": wd} {
		if got, err := HostPath(uri); err != nil || got != want {
			t.Errorf("HostPath(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	for _, uri := range []string{"dev:/x", "/a", "file:"} {
		if _, err := HostPath(uri); err == nil {
			t.Errorf("HostPath(%q) succeeded", uri)
		}
	}
}

func TestInsecureSettings(t *testing.T) {
	if got := load(t, "redis.manifest").InsecureSettings(); len(got) != 1 || !strings.Contains(got[0], "/etc/hosts") {
		t.Errorf("redis: %v", got)
	}
	got := strings.Join(load(t, "python.manifest").InsecureSettings(), "\n")
	for _, w := range []string{"sgx.debug", "loader.log_level", "insecure__use_cmdline_argv", "allow_all_but_log"} {
		if !strings.Contains(got, w) {
			t.Errorf("python: %q missing %s", got, w)
		}
	}
	got = strings.Join(load(t, "bash.manifest").InsecureSettings(), "\n")
	for _, w := range []string{"insecure__disable_aslr", "insecure__allow_eventfd", "experimental__enable_flock"} {
		if !strings.Contains(got, w) {
			t.Errorf("bash: %q missing %s", got, w)
		}
	}
	if got := load(t, "sqlite.manifest").InsecureSettings(); len(got) != 1 || !strings.Contains(got[0], "fs.insecure__keys.default") {
		t.Errorf("sqlite: %v", got)
	}
}

func TestRevalidate(t *testing.T) {
	m := mustParse(t, "libos.entrypoint = \"/a\"\n[sgx]\nisvsvn = 1\n")
	if m.Line("sgx.isvsvn") != 3 || m.Line("sgx.isvsvn[2].x") != 3 || m.Line("nope") != 0 {
		t.Errorf("Line: %d %d %d", m.Line("sgx.isvsvn"), m.Line("sgx.isvsvn[2].x"), m.Line("nope"))
	}
	m.Tree()["sgx"].(map[string]any)["isvsvn"] = int64(5)
	if err := m.Revalidate(); err != nil || m.SGX.ISVSVN != 5 {
		t.Errorf("Revalidate: %v %d", err, m.SGX.ISVSVN)
	}
	m.Tree()["sgx"].(map[string]any)["isvsvn"] = "5"
	var ke *KeyError
	if err := m.Revalidate(); !errors.As(err, &ke) || ke.Key != "sgx.isvsvn" || ke.Line != 3 {
		t.Errorf("Revalidate bad value: %v", err)
	}
}

func TestTrustedHostPath(t *testing.T) {
	for _, c := range [][3]string{{"file:/usr/bin/x", "/root", "/root/usr/bin/x"}, {"file:lib/", "/r", "/r/lib"}, {"file:/a", "", "/a"}} {
		if got, err := TrustedHostPath(c[0], c[1]); err != nil || got != c[2] {
			t.Errorf("TrustedHostPath(%q, %q) = %q, %v", c[0], c[1], got, err)
		}
	}
	if _, err := TrustedHostPath("dev:/x", "/r"); err == nil {
		t.Errorf("dev: URI accepted")
	}
}

func TestMarshalRejectsUnknownTypes(t *testing.T) {
	m := mustParse(t, "libos.entrypoint = \"/a\"\n")
	m.Tree()["libos"].(map[string]any)["x"] = []string{"not", "a", "toml", "tree"}
	if _, err := m.Marshal(); err == nil || !strings.Contains(err.Error(), "libos.x") {
		t.Errorf("Marshal of []string: %v", err)
	}
}
