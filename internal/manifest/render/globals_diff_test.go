package render

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// globalsOracle sets up python.* and ldd() the way gen_jinja_env.py does
// (python values from sysconfig in-process; ldd from the system ldd, with the
// interpreter line included as nacre documents), and renders one template.
const globalsOracle = `
import json, os, pathlib, subprocess, sys, sysconfig, jinja2
def ldd(*args):
    ret = set()
    for line in subprocess.check_output(['ldd', *(os.fspath(i) for i in args)]).decode().splitlines():
        f = line.strip().split()
        if len(f) >= 3 and f[1] == '=>' and f[2].startswith('/'):
            ret.add(f[2])
        elif f and f[0].startswith('/') and not f[0].endswith(':'):
            ret.add(f[0])
    return sorted(ret)
def get_sys_path(interpreter, include_nonexisting=False):
    for p in subprocess.check_output([interpreter, '-c', "import sys; print('\\0'.join(p for p in sys.path if p), end='')"]).split(b'\0'):
        p = pathlib.Path(os.fsdecode(p))
        if include_nonexisting or p.exists():
            yield p
paths = sysconfig.get_paths()
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
env.globals['python'] = {
    'stdlib': pathlib.Path(paths['stdlib']), 'platstdlib': pathlib.Path(paths['platstdlib']),
    'purelib': pathlib.Path(paths['purelib']),
    'distlib': pathlib.Path(sysconfig.get_path('stdlib', vars={'py_version_short': sys.version_info[0]})) / 'dist-packages',
    'get_config_var': sysconfig.get_config_var, 'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX'),
    'get_path': sysconfig.get_path, 'get_paths': sysconfig.get_paths,
    'implementation': sys.implementation, 'get_sys_path': get_sys_path,
}
env.globals['ldd'] = ldd
sys.stdout.write(env.from_string(sys.stdin.read()).render(entrypoint=sys.executable))
`

const globalsTemplate = `stdlib = "{{ python.stdlib }}"
platstdlib = "{{ python.platstdlib }}" purelib = "{{ python.purelib }}"
distlib = "{{ python.distlib }}"
ext = "{{ python.ext_suffix }}" impl = "{{ python.implementation.name }}" tag = "{{ python.implementation.cache_tag }}"
version = "{{ python.get_config_var('VERSION') }}" missing = "{{ python.get_config_var('NO_SUCH_VAR') }}"
purelib2 = "{{ python.get_path('purelib') }}" stdlib2 = "{{ python.get_paths()['stdlib'] }}"
scheme = "{{ python.get_path('purelib', 'posix_prefix', {'base': '/x'}) }}"
{% for path in python.get_sys_path(entrypoint) %}
  "file:{{ path }}{{ '/' if path.is_dir() else '' }}",
{% endfor %}
{% for lib in ldd('/bin/sh', entrypoint) %}
  "file:{{ lib }}",
{% endfor %}
`

func TestGlobalsAgainstJinja2(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import jinja2").Run() != nil {
		t.Skip("python3 with jinja2 not available")
	}
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("ldd not available")
	}
	// The interpreter binary behind a pyenv-style shim is what ldd must see.
	exe, err := exec.Command(py, "-c", "import sys; print(sys.executable, end='')").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", globalsOracle)
	cmd.Stdin = bytes.NewReader([]byte(globalsTemplate))
	cmd.Stderr = os.Stderr
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	r := New(Options{Defines: map[string]any{"entrypoint": string(exe)}, Python: py,
		RuntimeDir: func(string) (string, error) { return "/x", nil }, PkgLibDir: "/x"})
	got, err := r.Render("globals.template", []byte(globalsTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("nacre:\n%s\njinja2:\n%s", got, want)
	}
}
