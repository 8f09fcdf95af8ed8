package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "regenerate testdata/*.golden with the real Jinja2 (python3 + jinja2 needed)")

// goldenCases are manifest templates written in the style of Gramine's
// CI-Examples; their expected outputs were produced by Jinja2 configured
// like gramine-manifest, with python.* answered by testdata/fakepython.
var goldenCases = []struct {
	template, golden string
	defines          map[string]any
}{
	{"python.manifest.template", "python.manifest.golden", map[string]any{
		"entrypoint": "testdata/fakepython", "log_level": "error", "arch_libdir": "/lib/x86_64-linux-gnu"}},
	{"sqlite.manifest.template", "sqlite.manifest.golden", map[string]any{
		"execdir": "/usr/bin", "log_level": "warning", "arch_libdir": "/lib/x86_64-linux-gnu", "sgx": ""}},
	{"sqlite.manifest.template", "sqlite-sgx.manifest.golden", map[string]any{
		"execdir": "/usr/bin", "log_level": "warning", "arch_libdir": "/lib/x86_64-linux-gnu", "sgx": true, "debug": true}},
	{"server.manifest.template", "server.manifest.golden", map[string]any{
		"install_dir": "install", "install_dir_abspath": "/srv/install", "args": "server -c conf/server.conf",
		"arch_libdir": "/lib/x86_64-linux-gnu", "extra_allowed": "/etc/hosts::/etc/resolv.conf"}},
}

var goldenEnv = map[string]string{"HOME": "/home/u", "EDMM": "0"}

func goldenRenderer(defines map[string]any) *Renderer {
	return New(Options{
		Defines:    defines,
		Env:        goldenEnv,
		RuntimeDir: func(libc string) (string, error) { return "/usr/local/lib/nacre/runtime/" + libc, nil },
		PkgLibDir:  "/usr/local/lib/nacre",
		Python:     "testdata/fakepython",
	})
}

func TestGolden(t *testing.T) {
	if *updateGolden {
		regenerateGolden(t)
	}
	for _, c := range goldenCases {
		t.Run(c.golden, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", c.template))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", c.golden))
			if err != nil {
				t.Fatal(err)
			}
			got, err := goldenRenderer(c.defines).Render(c.template, src)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s\n--- got:\n%s\n--- want:\n%s", c.template, c.golden, got, want)
			}
		})
	}
}

const goldenOracle = `
import json, os, pathlib, subprocess, sys, jinja2
class Runtimedir:
    def __call__(self, libc='glibc'):
        return pathlib.Path('/usr/local/lib/nacre/runtime') / libc
    def __str__(self):
        return str(self())
    def __truediv__(self, other):
        return self() / other
def get_sys_path(interpreter, include_nonexisting=False):
    for p in subprocess.check_output([interpreter, "-c", "sys.path"]).split(b'\0'):
        p = pathlib.Path(os.fsdecode(p))
        if include_nonexisting or p.exists():
            yield p
info = json.load(open('testdata/fakepython.json'))
class Impl:
    name = info['impl']['name']
    cache_tag = info['impl']['cache_tag']
req = json.load(sys.stdin)
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
env.globals['gramine'] = {'libos': pathlib.Path('/usr/local/lib/nacre/libsysdb.so'),
    'pkglibdir': pathlib.Path('/usr/local/lib/nacre'), 'runtimedir': Runtimedir()}
env.globals['python'] = {
    'stdlib': pathlib.Path(info['paths']['stdlib']), 'platstdlib': pathlib.Path(info['paths']['platstdlib']),
    'purelib': pathlib.Path(info['paths']['purelib']), 'distlib': pathlib.Path(info['distlib']),
    'get_config_var': info['config_vars'].get, 'ext_suffix': info['config_vars']['EXT_SUFFIX'],
    'get_path': info['paths'].__getitem__, 'get_paths': lambda: dict(info['paths']),
    'implementation': Impl, 'get_sys_path': get_sys_path}
env.globals['env'] = req['env']
sys.stdout.write(env.from_string(open(req['template']).read()).render(**req['defines']))
`

func regenerateGolden(t *testing.T) {
	for _, c := range goldenCases {
		req, _ := json.Marshal(map[string]any{"template": filepath.Join("testdata", c.template), "defines": c.defines, "env": goldenEnv})
		cmd := exec.Command("python3", "-c", goldenOracle)
		cmd.Stdin = bytes.NewReader(req)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("jinja2 oracle for %s: %v", c.golden, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", c.golden), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
