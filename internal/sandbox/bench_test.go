package sandbox

import (
	"context"
	"os/exec"
	"testing"
)

func benchStart(b *testing.B, cfg Config) {
	for b.Loop() {
		code, err := Run(context.Background(), cfg)
		if err != nil || code != 0 {
			b.Fatalf("Run = %d, %v", code, err)
		}
	}
}

// BenchmarkSandboxStart measures a whole `run -- /bin/true`: namespaces, the
// view (RootDir with /usr and /etc bound, a tmpfs /tmp, /proc, /dev),
// pivot_root, stage 3 with seccomp, and teardown.
func BenchmarkSandboxStart(b *testing.B) {
	skipUnlessSandbox(b)
	benchStart(b, baseConfig(b, "/bin/true"))
}

// BenchmarkSandboxStartFUSE is the same with the root served by go-fuse's
// loopback filesystem (no verification).
func BenchmarkSandboxStartFUSE(b *testing.B) {
	skipUnlessSandbox(b)
	skipUnlessFUSE(b)
	cfg := baseConfig(b, "/bin/true")
	cfg.ServeRoot, cfg.RootDir = loopbackServer(cfg.RootDir), ""
	benchStart(b, cfg)
}

// BenchmarkNativeStart is the baseline: /bin/true started by os/exec on the
// host, no sandbox.
func BenchmarkNativeStart(b *testing.B) {
	for b.Loop() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
