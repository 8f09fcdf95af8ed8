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

// prefetch reads the uncached data nodes from plaintext offset o up to end
// (exclusive) that hang under o's MHT node and authenticates them in
// parallel, so a large read decrypts on every core. It stops at the first
// cached node and at any failure, leaving the failing node to the regular
// path, which reports it; every node it caches authenticated. With
// GramineFlushPolicy the cache must evolve exactly as Gramine's, so it does
// nothing.
func (f *File) prefetch(o, end uint64) {
	if f.opts.GramineFlushPolicy || o < MetaDataSize || end > f.meta.size {
		return
	}
	m, d0, _, _ := nodeNumbers(o)
	_, dLast, _, _ := nodeNumbers(end - 1)
	dEnd := min(dLast+1, (m+1)*attachedData, d0+uint64(f.cacheCap/4))
	if dEnd < d0+minParallel {
		return
	}
	parent, err := f.readMHT(m)
	if err != nil {
		return
	}
	batch := f.sealBatch[:0]
	for d := d0; d < dEnd; d++ {
		phys := d + 2 + m
		if f.cache.find(phys) != nil {
			break
		}
		n := f.newNode(false, d, phys, parent, false)
		if err := f.readNode("read", phys, n.enc[:NodeSize]); err != nil {
			f.drop(n)
			break
		}
		batch = append(batch, n)
	}
	if len(batch) > 0 {
		if f.opened == nil {
			f.opened = make([]bool, 0, attachedData)
		}
		ok := f.opened[:len(batch)]
		forEachNode(len(batch), func(i int) {
			n := batch[i]
			e := parent.dataEntry(n.logical)
			ok[i] = openBuf(e[:16], e[16:], &n.enc, n.plain[:]) == nil
		})
		failed := false
		for i, n := range batch {
			failed = failed || !ok[i]
			if failed {
				f.drop(n)
				continue
			}
			f.cache.add(n)
		}
	}
	clear(batch)
	f.sealBatch = batch[:0]
}

// drop scrubs a node that never entered the cache and keeps it for reuse.
func (f *File) drop(n *node) {
	clear(n.plain[:])
	n.parent = nil
	if len(f.free) < 64 {
		f.free = append(f.free, n)
	}
}

// minUnlocked is the smallest run of nodes a read serves with the File's
// lock released (below it the extra locking costs more than it frees).
const minUnlocked = 16
