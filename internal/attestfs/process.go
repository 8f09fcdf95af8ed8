package attestfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// procKey identifies a process across PID reuse: its thread-group id and
// its start time (field 22 of /proc/PID/stat, clock ticks since boot).
// The zero key is the instance-wide slot.
type procKey struct {
	tgid  uint32
	start uint64
}

// maxProcs is when reportData starts dropping the entries of processes
// that have exited.
const maxProcs = 256

// reportData holds user_report_data per calling process (see the package
// doc, "Per-process state").
type reportData struct {
	procDir string // "" → everything in the instance-wide slot

	mu    sync.Mutex
	byKey map[procKey][64]byte
}

func newReportData(procDir string) *reportData {
	return &reportData{procDir: procDir, byKey: map[procKey][64]byte{}}
}

// key maps the thread id FUSE reports for a request to its process. It
// falls back to the instance-wide slot when no procfs was configured, the
// caller is outside the connection's PID namespace (pid 0), or the lookup
// fails (the thread exited meanwhile).
func (r *reportData) key(pid uint32) procKey {
	if r.procDir == "" || pid == 0 {
		return procKey{}
	}
	k, err := lookupProc(r.procDir, pid)
	if err != nil {
		return procKey{}
	}
	return k
}

func (r *reportData) get(pid uint32) [64]byte {
	k := r.key(pid)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey[k]
}

func (r *reportData) set(pid uint32, v [64]byte) {
	k := r.key(pid)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byKey[k]; !ok && len(r.byKey) >= maxProcs {
		r.collectLocked()
	}
	r.byKey[k] = v
}

// collectLocked drops the entries of processes that no longer exist (or
// whose PID now names a different process).
func (r *reportData) collectLocked() {
	for k := range r.byKey {
		if k == (procKey{}) {
			continue
		}
		if now, err := lookupProc(r.procDir, k.tgid); err != nil || now != k {
			delete(r.byKey, k)
		}
	}
}

// lookupProc reads the thread-group id of thread pid from procDir/pid/status
// and the start time of that thread group from procDir/tgid/stat.
func lookupProc(procDir string, pid uint32) (procKey, error) {
	status, err := os.ReadFile(filepath.Join(procDir, strconv.FormatUint(uint64(pid), 10), "status"))
	if err != nil {
		return procKey{}, err
	}
	tgid, err := statusField(status, "Tgid:")
	if err != nil {
		return procKey{}, fmt.Errorf("%s/%d/status: %w", procDir, pid, err)
	}
	stat, err := os.ReadFile(filepath.Join(procDir, strconv.FormatUint(tgid, 10), "stat"))
	if err != nil {
		return procKey{}, err
	}
	start, err := statStartTime(stat)
	if err != nil {
		return procKey{}, fmt.Errorf("%s/%d/stat: %w", procDir, tgid, err)
	}
	return procKey{tgid: uint32(tgid), start: start}, nil
}

func statusField(status []byte, name string) (uint64, error) {
	for line := range bytes.SplitSeq(status, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 32)
		}
	}
	return 0, fmt.Errorf("no %q line", name)
}

// statStartTime returns field 22 (starttime) of a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may contain spaces and
// parentheses, so fields are counted after its last ')'.
func statStartTime(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in parentheses")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 20", len(f))
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}
