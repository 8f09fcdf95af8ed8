package sandbox

import (
	"os"
	"strings"
	"testing"
)

// TestFuseDevOf finds the device of the last mount of a type in this
// process's own mountinfo, and fails for a type that is not mounted.
func TestFuseDevOf(t *testing.T) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	want := map[string]string{} // fstype -> device of its last mount
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, after, _ := strings.Cut(line, " - ")
		want[strings.Fields(after)[0]] = strings.Fields(line)[2]
	}
	for fstype, dev := range want {
		got, err := fuseDevOf(os.Getpid(), fstype)
		if err != nil || got != dev {
			t.Errorf("fuseDevOf(%s) = %q, %v; want %q", fstype, got, err, dev)
		}
	}
	if _, err := fuseDevOf(os.Getpid(), "fuse.no-such-filesystem"); err == nil {
		t.Error("fuseDevOf of an unmounted type succeeded")
	}
}
