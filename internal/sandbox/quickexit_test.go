package sandbox

import (
	"testing"
	"time"
)

// With RootTransient, Run returns the application's status without waiting
// for the sandbox's teardown, and Teardown still runs once, afterwards.
// Without it, Teardown has run before Run returns.
func TestQuickExit(t *testing.T) {
	skipUnlessSandbox(t)
	for _, quick := range []bool{true, false} {
		for _, tc := range []struct {
			script string
			want   int
		}{{"exit 0", 0}, {"exit 3", 3}, {"kill -TERM $$", 128 + 15}} {
			cfg := baseConfig(t, "/bin/bash", "-c", tc.script)
			cfg.RootTransient = quick
			torn := make(chan struct{}, 2)
			cfg.Teardown = func() { torn <- struct{}{} }
			_, errOut, code, err := run(t, cfg)
			if err != nil {
				t.Fatalf("quick=%t %q: Run: %v (stderr %q)", quick, tc.script, err, errOut)
			}
			if code != tc.want {
				t.Errorf("quick=%t %q: exit status %d, want %d", quick, tc.script, code, tc.want)
			}
			if !quick {
				select {
				case <-torn:
				default:
					t.Fatalf("%q: Teardown had not run when Run returned", tc.script)
				}
			} else {
				select {
				case <-torn:
				case <-time.After(30 * time.Second): // a hang guard, not a timing check
					t.Fatalf("%q: Teardown never ran after a quick return", tc.script)
				}
			}
			select {
			case <-torn:
				t.Fatalf("quick=%t %q: Teardown ran twice", quick, tc.script)
			default:
			}
		}
	}
}

// A FUSE mount that is not Transient (an encrypted mount) keeps RunChild
// waiting for the whole teardown.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want bool
	}{
		{Config{}, false},
		{Config{RootTransient: true}, true},
		{Config{RootTransient: true, Mounts: []Mount{{Kind: MountTmpfs}, {Kind: MountFUSE, Transient: true}}}, true},
		{Config{RootTransient: true, Mounts: []Mount{{Kind: MountFUSE, Transient: true}, {Kind: MountFUSE}}}, false},
		{Config{Mounts: []Mount{{Kind: MountFUSE, Transient: true}}}, false},
	} {
		if got := tc.cfg.transient(); got != tc.want {
			t.Errorf("transient(%+v) = %t, want %t", tc.cfg.Mounts, got, tc.want)
		}
	}
}
