package e2e

import (
	"os/exec"
	"testing"
)

// TestExamples runs every example exactly as its README says: make check.
func TestExamples(t *testing.T) {
	for _, tc := range []struct{ name, needs string }{
		{"helloworld", ""},
		{"bash", "bash"},
		{"python", "/usr/bin/python3"},
		{"sqlite", "sqlite3"},
		{"redis", "redis-server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" {
				if _, err := exec.LookPath(tc.needs); err != nil {
					t.Skipf("%s not installed (run scripts/install-test-deps.sh)", tc.needs)
				}
			}
			dir := example(t, tc.name)
			out := makeIn(t, dir, "check")
			mustContain(t, "make check output", out, "[ Success ]")
		})
	}
}
