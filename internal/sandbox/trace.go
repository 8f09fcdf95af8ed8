package sandbox

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// NACRE_TRACE=1 makes nacre and its sandbox child write one line per
// start-up and exit step to stderr: "nacre-trace PID MONOTONIC_NS STEP".
// It is for measuring nacre's own fixed cost (bench/README.md); off, a
// Trace call is one branch. The child gets the variable from Start (its
// environment is otherwise empty), so both sides share one clock.
const traceEnv = "NACRE_TRACE"

var tracing = os.Getenv(traceEnv) != ""

// Trace records that step is done, when NACRE_TRACE is set.
func Trace(step string) {
	if !tracing {
		return
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	b := make([]byte, 0, 64+len(step))
	b = append(b, "nacre-trace "...)
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts.Nano(), 10)
	b = append(b, ' ')
	b = append(b, step...)
	b = append(b, '\n')
	_, _ = unix.Write(2, b)
}

// traceChildEnv is the sandbox child's environment.
func traceChildEnv() []string {
	if tracing {
		return []string{traceEnv + "=1"}
	}
	return []string{}
}
