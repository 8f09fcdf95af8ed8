package shield

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/measure"
	"github.com/nacre-tee/nacre/internal/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is the sandbox's re-exec target (/proc/self/exe).
	if sandbox.IsChild() {
		sandbox.ChildMain()
	}
	os.Exit(m.Run())
}

// Run builds the trusted set while the sandbox starts; a set that fails (here
// a chunk index that does not match the signed hash) must still stop the run
// with its own error before anything of the application runs.
func TestRunRejectsBadChunkIndexBeforeTheApp(t *testing.T) {
	if err := sandbox.CheckHost(true); err != nil {
		t.Skip(err)
	}
	key, err := measure.LoadKey("../measure/testdata/kat-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	m, err := manifest.Parse("app.manifest", []byte(`libos.entrypoint = "/bin/sh"
loader.argv = ["sh", "-c", "echo RAN"]
sgx.trusted_files = ["file:/bin/sh"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ExpandTrustedFiles(manifest.ExpandOptions{}); err != nil {
		t.Fatal(err)
	}
	ci := sha256.Sum256([]byte("the real chunk index"))
	signed, err := measure.Sign(m, key, measure.SignOptions{Date: "0000-00-00", ChunkIndexSHA256: &ci})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "app.manifest.sgx")
	if err := os.WriteFile(p, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ChunkIndexPath(p), []byte("another chunk index"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, err = Run(context.Background(), Options{Manifest: p, Stdout: out, Stderr: out, Platform: "none"})
	if err == nil || !strings.HasPrefix(err.Error(), "chunk index of "+p+":") {
		t.Fatalf("err = %v, want the chunk index error", err)
	}
	if b, _ := os.ReadFile(out.Name()); len(b) != 0 {
		t.Fatalf("the application ran: %q", b)
	}
}

// The sandbox child starts before the manifest is verified; a manifest that
// fails verification must stop the run with the verification error and leave
// no child behind (not even a zombie).
func TestRunFailedVerificationLeavesNoChild(t *testing.T) {
	if err := sandbox.CheckHost(true); err != nil {
		t.Skip(err)
	}
	key, err := measure.LoadKey("../measure/testdata/kat-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse("app.manifest", []byte("libos.entrypoint = \"/bin/sh\"\nloader.argv = [\"sh\", \"-c\", \"echo RAN\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := measure.Sign(m, key, measure.SignOptions{Date: "0000-00-00"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "app.manifest.sgx")
	if err := os.WriteFile(p, []byte(strings.Replace(string(signed), "echo RAN", "echo BAD", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, err = Run(context.Background(), Options{Manifest: p, Stdout: out, Stderr: out, Platform: "none"})
	if !errors.Is(err, measure.ErrMeasurementMismatch) {
		t.Fatalf("err = %v, want ErrMeasurementMismatch", err)
	}
	if kids := childrenOf(t, os.Getpid()); len(kids) != 0 {
		t.Fatalf("processes left behind: %v", kids)
	}
	if b, _ := os.ReadFile(out.Name()); len(b) != 0 {
		t.Fatalf("the application ran: %q", b)
	}
}

// childrenOf lists the processes (zombies included) whose parent is pid.
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, string(b))
		}
	}
	return kids
}
