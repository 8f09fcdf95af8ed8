package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/manifest/render"
	"github.com/nacre-tee/nacre/internal/runtimedir"
)

// writeManifestTemplate creates a template naming a trusted file in dir.
func writeManifestTemplate(t *testing.T, dir string) (tmpl, app string) {
	t.Helper()
	app = filepath.Join(dir, "app")
	if err := os.WriteFile(app, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl = filepath.Join(dir, "app.manifest.template")
	src := `# test application
loader.entrypoint.uri = "file:{{ gramine.libos }}"
libos.entrypoint = "{{ appdir }}/app"
loader.log_level = "{{ log_level | default('error') }}"
{% if debug %}
loader.env.DEBUG = "1"
{% endif %}
fs.mounts = [
  { path = "{{ appdir }}", uri = "file:{{ appdir }}" },
]
sgx.trusted_files = [
  "file:{{ gramine.libos }}",
  "file:{{ appdir }}/",
]
`
	if err := os.WriteFile(tmpl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return tmpl, app
}

func TestManifestCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(runtimedir.EnvDir, filepath.Join(dir, "nacre", "runtime", "glibc"))
	tmpl, app := writeManifestTemplate(t, dir)
	out := filepath.Join(dir, "app.manifest")
	cmd := newManifestCmd()
	cmd.SetArgs([]string{"-D", "appdir=" + dir, "-D", "debug", tmpl, out})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("#!/bin/sh\necho hi\n"))
	for _, want := range []string{
		`sha256 = "` + hex.EncodeToString(sum[:]) + `", uri = "file:` + app + `"`,
		`loader.env.DEBUG = "1"`,
		`loader.log_level = "error"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "libsysdb.so\" }") || strings.Count(string(got), "libsysdb.so") != 1 {
		t.Errorf("gramine.libos should only remain in loader.entrypoint.uri:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "nacre", "runtime")); !os.IsNotExist(err) {
		t.Error("runtime dir created although the template does not use gramine.runtimedir")
	}
}

func TestManifestCommandNoCheck(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(runtimedir.EnvDir, filepath.Join(dir, "rt", "glibc"))
	tmpl, _ := writeManifestTemplate(t, dir)
	for _, tc := range []struct {
		args    []string
		checked bool
	}{
		{[]string{"--no-check"}, false},
		{[]string{"--no-check", "--check"}, true},
		{[]string{"--check", "--no-check"}, false},
		{[]string{"--check=false"}, false},
	} {
		var stdout bytes.Buffer
		cmd := newManifestCmd()
		cmd.SetOut(&stdout)
		cmd.SetArgs(append(append([]string{"-Dappdir=" + dir, "-Ddebug=", "-Dlog_level=debug"}, tc.args...), tmpl))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		hashed := strings.Contains(stdout.String(), "sha256 = ")
		if hashed != tc.checked {
			t.Errorf("%v: hashed=%v, want %v:\n%s", tc.args, hashed, tc.checked, stdout.String())
		}
		if !tc.checked && !strings.HasPrefix(stdout.String(), "# test application\n") {
			t.Errorf("%v: --no-check output is not the rendered text:\n%s", tc.args, stdout.String())
		}
		if strings.Contains(stdout.String(), "DEBUG") {
			t.Errorf("%v: -Ddebug= (empty string) should be false", tc.args)
		}
	}
}

func TestManifestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(runtimedir.EnvDir, filepath.Join(dir, "rt", "glibc"))
	tmpl, _ := writeManifestTemplate(t, dir)

	// Undefined variable: template file, line and name.
	err := runManifest(manifestFlags{check: true}, tmpl, "", &bytes.Buffer{})
	var re *render.Error
	if !errors.As(err, &re) || re.Line != 3 || re.Name != "appdir" || !strings.HasPrefix(err.Error(), tmpl+":3: ") {
		t.Errorf("undefined variable error = %v", err)
	}

	// Invalid rendered manifest: named as the rendered template.
	bad := filepath.Join(dir, "bad.manifest.template")
	os.WriteFile(bad, []byte("libos.entrypoint = \"/x\"\nlibos.no_such_key = {{ 1 + 1 }}\n"), 0o644)
	out := filepath.Join(dir, "bad.manifest")
	err = runManifest(manifestFlags{check: true}, bad, out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bad+" (rendered):2") || !strings.Contains(err.Error(), "--no-check") {
		t.Errorf("invalid manifest error = %v", err)
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Error("output written despite the error")
	}

	// Missing trusted file.
	os.WriteFile(bad, []byte("libos.entrypoint = \"/x\"\nsgx.trusted_files = [\"file:"+dir+"/missing\"]\n"), 0o644)
	if err := runManifest(manifestFlags{check: true}, bad, "", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing trusted file error = %v", err)
	}

	if _, err := parseDefines([]string{"=x"}); err == nil {
		t.Error("-D =x accepted")
	}
	d, err := parseDefines([]string{"a", "b=", "c=x=y"})
	if err != nil || d["a"] != true || d["b"] != "" || d["c"] != "x=y" {
		t.Errorf("parseDefines = %v, %v", d, err)
	}
	if err := runManifest(manifestFlags{}, filepath.Join(dir, "nope.template"), "", &bytes.Buffer{}); err == nil {
		t.Error("missing template accepted")
	}
}
