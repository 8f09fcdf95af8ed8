package fileserver

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"
)

// StatsEnv names the environment variable that turns on the FUSE request
// counter, a profiling aid: when it holds a file path, the server counts the
// requests it receives by opcode, with the total time from reading each
// request to writing its reply, and rewrites that file with the table every
// 200 ms while requests arrive. It uses go-fuse's debug log (one formatted
// line per request), so it slows the server down; never set it in production.
const StatsEnv = "NACRE_FUSE_STATS"

// opStats counts go-fuse debug lines of the form "rx N: OPCODE ...".
type opStats struct {
	path string

	mu      sync.Mutex
	count   map[string]int
	total   map[string]time.Duration // summed request-to-reply time
	pending map[string]pendingReq    // by request id ("12")
	dirty   bool
}

type pendingReq struct {
	op    string
	start time.Time
}

// statsLogger returns the logger that counts requests into the file named by
// $NACRE_FUSE_STATS, or nil when the variable is unset.
func statsLogger() *log.Logger {
	p := os.Getenv(StatsEnv)
	if p == "" {
		return nil
	}
	st := newOpStats(p)
	go st.flushLoop()
	return log.New(st, "", 0)
}

func newOpStats(path string) *opStats {
	return &opStats{path: path, count: map[string]int{}, total: map[string]time.Duration{}, pending: map[string]pendingReq{}}
}

func (st *opStats) Write(b []byte) (int, error) {
	now := time.Now()
	// "rx 12: LOOKUP n1 ..." is a request, "tx 12:     OK, ..." its reply.
	rx, isRx := bytes.CutPrefix(b, []byte("rx "))
	tx, isTx := bytes.CutPrefix(b, []byte("tx "))
	if !isRx && !isTx {
		return len(b), nil
	}
	rest := rx
	if isTx {
		rest = tx
	}
	i := bytes.Index(rest, []byte(": "))
	if i < 0 {
		return len(b), nil
	}
	id := string(rest[:i])
	st.mu.Lock()
	defer st.mu.Unlock()
	if isTx {
		if p, ok := st.pending[id]; ok {
			delete(st.pending, id)
			st.total[p.op] += now.Sub(p.start)
		}
		return len(b), nil
	}
	op := rest[i+2:]
	if j := bytes.IndexByte(op, ' '); j >= 0 {
		op = op[:j]
	}
	name := string(bytes.TrimSpace(op))
	st.count[name]++
	st.pending[id] = pendingReq{op: name, start: now}
	st.dirty = true
	return len(b), nil
}

func (st *opStats) flushLoop() {
	for range time.Tick(200 * time.Millisecond) {
		st.mu.Lock()
		if !st.dirty {
			st.mu.Unlock()
			continue
		}
		st.dirty = false
		ops := make([]string, 0, len(st.count))
		total := 0
		for op, n := range st.count {
			ops = append(ops, op)
			total += n
		}
		sort.Slice(ops, func(i, j int) bool { return st.count[ops[i]] > st.count[ops[j]] })
		var buf bytes.Buffer
		var all time.Duration
		for _, d := range st.total {
			all += d
		}
		fmt.Fprintf(&buf, "%-14s %7s %10s %8s\n", "opcode", "count", "total µs", "mean µs")
		line := func(op string, n int, d time.Duration) {
			fmt.Fprintf(&buf, "%-14s %7d %10d %8d\n", op, n, d.Microseconds(), d.Microseconds()/int64(max(n, 1)))
		}
		line("TOTAL", total, all)
		for _, op := range ops {
			line(op, st.count[op], st.total[op])
		}
		st.mu.Unlock()
		_ = os.WriteFile(st.path, buf.Bytes(), 0o644)
	}
}
