package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Manifest {
	t.Helper()
	m, err := Parse("t.manifest", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolveArgv(t *testing.T) {
	const ep = "libos.entrypoint = \"/bin/app\"\n"
	m := mustParse(t, ep)
	if got, err := m.ResolveArgv(nil); err != nil || !slices.Equal(got, []string{"/bin/app"}) {
		t.Errorf("no argv option: %v %v", got, err)
	}
	if _, err := m.ResolveArgv([]string{"x"}); !errors.Is(err, ErrHostArgs) {
		t.Errorf("host args without argv option: %v", err)
	}
	m = mustParse(t, ep+"loader.insecure__use_cmdline_argv = true\n")
	if got, _ := m.ResolveArgv([]string{"a", "b"}); !slices.Equal(got, []string{"/bin/app", "a", "b"}) {
		t.Errorf("cmdline argv: %v", got)
	}
	m = mustParse(t, ep+"loader.argv = [\"app\", \"-v\"]\n")
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	if got, err := m.ResolveArgv([]string{"ignored"}); err != nil || !slices.Equal(got, []string{"app", "-v"}) {
		t.Errorf("loader.argv with host args: %v %v", got, err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "discarded") {
		t.Errorf("discarded host args not logged as an error: %q", logs.String())
	}

	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	os.WriteFile(args, []byte("app\x00--flag\x00\x00x y\x00"), 0o644)
	sum := sha256.Sum256([]byte("app\x00--flag\x00\x00x y\x00"))
	trusted := ep + "loader.argv_src_file = \"file:" + args + "\"\nsgx.trusted_files = [{ uri = \"file:" + args + "\", sha256 = \"" + hex.EncodeToString(sum[:]) + "\" }]\n"
	m = mustParse(t, trusted)
	if got, err := m.ResolveArgv(nil); err != nil || !slices.Equal(got, []string{"app", "--flag", "", "x y"}) {
		t.Errorf("argv_src_file: %q %v", got, err)
	}
	os.WriteFile(args, []byte("evil\x00"), 0o644)
	if _, err := m.ResolveArgv(nil); err == nil || !strings.Contains(err.Error(), "modified") {
		t.Errorf("tampered argv_src_file accepted: %v", err)
	}
	m = mustParse(t, ep+"loader.argv_src_file = \"file:"+args+"\"\n")
	if _, err := m.ResolveArgv(nil); err == nil || !strings.Contains(err.Error(), "not a trusted file") {
		t.Errorf("untrusted argv_src_file accepted: %v", err)
	}
	m = mustParse(t, ep+"loader.argv_src_file = \"file:"+args+"\"\nsgx.allowed_files = [\"file:"+dir+"/\"]\n")
	if got, err := m.ResolveArgv(nil); err != nil || !slices.Equal(got, []string{"evil"}) {
		t.Errorf("allowed argv_src_file: %q %v", got, err)
	}
}

func TestResolveEnv(t *testing.T) {
	host := []string{"HOME=/root", "PATH=/usr/bin", "SECRET=1"}
	const ep = "libos.entrypoint = \"/bin/app\"\n"
	m := mustParse(t, ep+"loader.env.HOME = { passthrough = true }\nloader.env.MISSING = { passthrough = true }\nloader.env.B = \"2\"\nloader.env.A = { value = \"1\" }\n")
	if got, _ := m.ResolveEnv(host); !slices.Equal(got, []string{"A=1", "B=2", "HOME=/root"}) {
		t.Errorf("env: %v", got)
	}
	m = mustParse(t, ep+"loader.insecure__use_host_env = true\nloader.env.PATH = \"/bin\"\nloader.env.X = \"y\"\n")
	if got, _ := m.ResolveEnv(host); !slices.Equal(got, []string{"HOME=/root", "PATH=/bin", "SECRET=1", "X=y"}) {
		t.Errorf("host env: %v", got)
	}
	dir := t.TempDir()
	envf := filepath.Join(dir, "env")
	os.WriteFile(envf, []byte("PATH=/file\x00K=v=w\x00"), 0o644)
	m = mustParse(t, ep+"loader.env_src_file = \"file:"+envf+"\"\nloader.env.PATH = \"/manifest\"\nsgx.allowed_files = [\"file:"+envf+"\"]\n")
	if got, err := m.ResolveEnv(host); err != nil || !slices.Equal(got, []string{"PATH=/manifest", "K=v=w"}) {
		t.Errorf("env_src_file: %v %v", got, err)
	}
	os.WriteFile(envf, []byte("NOEQUALS\x00"), 0o644)
	if _, err := m.ResolveEnv(host); err == nil {
		t.Errorf("malformed env_src_file accepted")
	}
}
