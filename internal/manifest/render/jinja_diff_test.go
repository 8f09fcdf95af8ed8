package render

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// jinjaOracle renders templates with the real Jinja2, configured like
// gramine-manifest and with the same fixed globals as testRenderer. It is a
// differential check of TestRender's expectations; skipped when python3 has
// no jinja2 module.
const jinjaOracle = `
import json, pathlib, sys, jinja2
class Runtimedir:
    def __call__(self, libc='glibc'):
        return pathlib.Path('/opt/nacre/runtime') / libc
    def __str__(self):
        return str(self())
    def __truediv__(self, other):
        return self() / other
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
env.globals['gramine'] = {'libos': pathlib.Path('/opt/nacre/libsysdb.so'), 'pkglibdir': pathlib.Path('/opt/nacre'), 'runtimedir': Runtimedir()}
env.globals['env'] = {'HOME': '/home/u', 'EDMM': '1', 'EMPTY': ''}
req = json.load(sys.stdin)
out = []
for t, d in zip(req['templates'], req['defines']):
    try:
        out.append({'ok': env.from_string(t).render(**d)})
    except Exception as e:
        out.append({'err': type(e).__name__ + ': ' + str(e)})
json.dump(out, sys.stdout)
`

func TestAgainstJinja2(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	py := "python3"
	if exec.Command(py, "-c", "import jinja2").Run() != nil {
		t.Skip("python3 with jinja2 not available")
	}
	defs := map[string]any{"log_level": "error", "arch_libdir": "/lib/x86_64-linux-gnu", "sgx": true,
		"items": []string{"b", "a", "c"}, "empty": "", "n": 7}
	var templates []string
	var defines []map[string]any
	for _, c := range renderCases {
		templates = append(templates, c.in)
		defines = append(defines, defs)
	}
	for _, c := range errorCases {
		templates = append(templates, c.in)
		defines = append(defines, map[string]any{"defined_var": "v"})
	}
	req, _ := json.Marshal(map[string]any{"templates": templates, "defines": defines})
	cmd := exec.Command(py, "-c", jinjaOracle)
	cmd.Stdin = bytes.NewReader(req)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jinja2 oracle: %v", err)
	}
	var res []struct {
		OK  *string `json:"ok"`
		Err string  `json:"err"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	for i, c := range errorCases {
		res := res[len(renderCases)+i]
		switch c.name {
		case "no python", "bad ldd", "invalid utf8": // globals and input handling differ from the oracle's
			continue
		}
		if res.OK != nil {
			t.Errorf("error case %s: jinja2 rendered %q, nacre fails", c.name, *res.OK)
		}
	}
	r := testRenderer(t, defs)
	for i, c := range renderCases {
		got, err := r.Render("t", []byte(c.in))
		if res[i].OK == nil {
			t.Errorf("%s: jinja2 failed: %s", c.name, res[i].Err)
			continue
		}
		if err != nil {
			t.Errorf("%s: nacre failed: %v", c.name, err)
			continue
		}
		if string(got) != *res[i].OK {
			t.Errorf("%s: %q\n nacre:  %q\n jinja2: %q", c.name, c.in, got, *res[i].OK)
		}
	}
}
