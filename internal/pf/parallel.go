package pf

import (
	"runtime"
	"sync"
)

// minParallel is the smallest batch of nodes worth spreading over several
// cores (a 4 KiB seal or open takes a few microseconds; a goroutine hand-off
// costs about one).
const minParallel = 8

// forEachNode runs fn(i) for i in [0, n), spread over the available cores
// in contiguous chunks. fn must touch only memory private to node i (its
// buffers and its own entry in its parent), so the order does not matter
// and the result is the same as a sequential loop.
func forEachNode(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/minParallel)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	for i := range min(chunk, n) {
		fn(i)
	}
	wg.Wait()
}

// minUnlocked is the smallest run of nodes a read serves with the File's
// lock released (below it the extra locking costs more than it frees).
const minUnlocked = 16
