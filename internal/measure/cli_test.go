package measure

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI builds cmd/nacre and runs gen-key, sign and inspect end to end.
// It skips when the binary does not build (other packages in progress) or
// with -short. NACRE_BIN names a prebuilt binary to use instead.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nacre binary")
	}
	dir := t.TempDir()
	bin := os.Getenv("NACRE_BIN") // a prebuilt binary, if given
	if bin == "" {
		gobin, err := exec.LookPath("go")
		if err != nil {
			t.Skip("no go tool")
		}
		bin = filepath.Join(dir, "nacre")
		build := exec.Command(gobin, "build", "-o", bin, "github.com/nacre-tee/nacre/cmd/nacre")
		if out, err := build.CombinedOutput(); err != nil {
			t.Skipf("cmd/nacre does not build right now:\n%s", out)
		}
	}
	run := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "cfg"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("nacre %v: exit %d, want %d\n%s", args, code, wantCode, out.String())
		}
		return out.String()
	}
	os.WriteFile(filepath.Join(dir, "tool"), []byte("tool"), 0o755)
	os.WriteFile(filepath.Join(dir, "app.manifest"), []byte("libos.entrypoint = \"/tool\"\nsgx.trusted_files = [\"file:tool\"]\n"), 0o644)

	run(0, "gen-key")
	run(2, "gen-key")
	run(0, "sign", "-m", "app.manifest", "-o", "app.signed", "-d", "0000-00-00")
	out := run(0, "inspect", "app.signed")
	if !strings.Contains(out, "measurement:") || !strings.Contains(out, "date:          0000-00-00") {
		t.Errorf("inspect output:\n%s", out)
	}
	out = run(0, "inspect", "--json", "app.signed")
	if !strings.Contains(out, `"signer"`) {
		t.Errorf("inspect --json output:\n%s", out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "app.signed"))
	os.WriteFile(filepath.Join(dir, "app.signed"), bytes.Replace(data, []byte("/tool"), []byte("/toal"), 1), 0o644)
	out = run(1, "inspect", "app.signed")
	if !strings.Contains(out, "modified after signing") {
		t.Errorf("tampered inspect output:\n%s", out)
	}
	for _, c := range []string{"gen-key", "sign", "inspect"} {
		if out := run(0, c, "--help"); !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help lacks an example", c)
		}
	}
}
