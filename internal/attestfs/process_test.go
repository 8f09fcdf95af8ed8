package attestfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestStatStartTime(t *testing.T) {
	// Field 22 is 4242; the command name holds spaces and parentheses.
	stat := "17 (we ird) (x) S 1 17 17 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10 18446744073709551615\n"
	got, err := statStartTime([]byte(stat))
	if err != nil || got != 4242 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"", "17 no parens", "17 (x) S 1 2 3", "17 (x) S 1 17 17 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 notanumber"} {
		if _, err := statStartTime([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// fakeProc writes a procfs with thread tid in thread group tgid started at start.
func fakeProc(t *testing.T, dir string, tid, tgid uint32, start uint64) {
	t.Helper()
	for _, id := range []uint32{tid, tgid} {
		d := filepath.Join(dir, fmt.Sprint(id))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		status := fmt.Sprintf("Name:\tapp\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\n", tgid, id)
		if err := os.WriteFile(filepath.Join(d, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", id, start)
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReportDataPerProcess(t *testing.T) {
	proc := t.TempDir()
	fakeProc(t, proc, 11, 10, 500) // thread 11 of process 10
	fakeProc(t, proc, 10, 10, 500)
	fakeProc(t, proc, 20, 20, 600)
	r := newReportData(proc)
	r.set(11, [64]byte{1})
	if got := r.get(10); got != [64]byte{1} {
		t.Fatalf("another thread of the same process reads %x", got[:1])
	}
	if got := r.get(20); got != ([64]byte{}) {
		t.Fatalf("another process reads %x", got[:1])
	}
	// Unknown thread and pid 0 share the instance-wide slot.
	r.set(0, [64]byte{2})
	if got := r.get(99); got != [64]byte{2} {
		t.Fatalf("fallback slot reads %x", got[:1])
	}
	// PID reuse: process 10 exits and a new process 10 starts later.
	fakeProc(t, proc, 10, 10, 700)
	if got := r.get(10); got != ([64]byte{}) {
		t.Fatalf("a new process with a reused PID reads %x", got[:1])
	}
	// Without a procfs everything is instance-wide.
	w := newReportData("")
	w.set(11, [64]byte{3})
	if got := w.get(20); got != [64]byte{3} {
		t.Fatalf("instance-wide slot reads %x", got[:1])
	}
}

func TestReportDataCollect(t *testing.T) {
	proc := t.TempDir()
	r := newReportData(proc)
	for i := range uint32(maxProcs) {
		pid := 100 + i
		fakeProc(t, proc, pid, pid, 1)
		r.set(pid, [64]byte{1})
	}
	// All but one exit; a new process's write collects them.
	for i := range uint32(maxProcs - 1) {
		if err := os.RemoveAll(filepath.Join(proc, fmt.Sprint(100+i))); err != nil {
			t.Fatal(err)
		}
	}
	fakeProc(t, proc, 5000, 5000, 1)
	r.set(5000, [64]byte{2})
	if n := len(r.byKey); n != 2 {
		t.Fatalf("%d entries after collection, want 2", n)
	}
	if got := r.get(100 + maxProcs - 1); got != [64]byte{1} {
		t.Fatal("a live process lost its report data")
	}
}
