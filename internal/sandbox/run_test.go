package sandbox

import (
	"context"
	"errors"
	"syscall"
	"testing"
)

// A child from Start that is aborted is gone when Abort returns (waited for,
// so not even a zombie is left), and cannot be run afterwards; Abort after
// RunChild took a child does nothing.
func TestStartAbort(t *testing.T) {
	skipUnlessSandbox(t)
	ch, err := Start(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := ch.proc.pid
	ch.Abort()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after Abort = %v, want ESRCH", pid, err)
	}
	ch.Abort() // a second Abort is harmless
	if _, err := RunChild(context.Background(), ch, baseConfig(t, "/bin/true")); err == nil {
		t.Error("RunChild accepted an aborted child")
	}

	// A config that fails validation kills the child too.
	ch, err = Start(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid = ch.proc.pid
	if _, err := RunChild(context.Background(), ch, Config{}); err == nil {
		t.Fatal("RunChild accepted an empty config")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after a failed RunChild = %v, want ESRCH", pid, err)
	}
	ch.Abort()
}
