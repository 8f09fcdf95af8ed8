package pffs

import (
	"runtime"
	"slices"
	"sync"
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

// Many queued writes run one by one in offset order once the lowest
// leaves, whatever order they arrived in (each is woken on its own).
func TestWriteOrderManyWaiters(t *testing.T) {
	var w writeOrder
	leaveLow := w.enter(0)
	const n = 24
	var mu sync.Mutex
	var ran []int64
	var wg sync.WaitGroup
	for i := range n {
		off := int64((n-i)*4096) + 1 // arrive highest first
		wg.Go(func() {
			leave := w.enter(off)
			mu.Lock()
			ran = append(ran, off)
			mu.Unlock()
			leave()
		})
	}
	for {
		w.mu.Lock()
		queued := len(w.inflight)
		w.mu.Unlock()
		if queued == n+1 {
			break
		}
		runtime.Gosched()
	}
	leaveLow()
	wg.Wait()
	if len(ran) != n || !slices.IsSorted(ran) {
		t.Fatalf("writes ran in order %v, want ascending", ran)
	}
	if len(w.inflight) != 0 {
		t.Fatalf("%d entries left in flight", len(w.inflight))
	}
}
