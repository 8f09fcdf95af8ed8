package pffs

import (
	"sync/atomic"
	"testing"
	"time"
)

// A write waits for concurrent writes at lower offsets, and only for those.
func TestWriteOrderWaitsForLowerOffsets(t *testing.T) {
	var w writeOrder
	leaveLow := w.enter(4096)
	var highDone atomic.Bool
	entered := make(chan func())
	go func() {
		leave := w.enter(1 << 20)
		highDone.Store(true)
		entered <- leave
	}()
	// A lower write entering now does not wait for anything above it.
	w.enter(0)()
	time.Sleep(20 * time.Millisecond)
	if highDone.Load() {
		t.Fatal("write at 1 MiB entered while the write at 4096 was in flight")
	}
	leaveLow()
	leaveHigh := <-entered
	leaveHigh()
	// Nothing in flight: no wait.
	w.enter(12345)()
	if len(w.inflight) != 0 {
		t.Fatalf("in flight after all left: %v", w.inflight)
	}
}
