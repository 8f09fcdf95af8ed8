package pf

import (
	"fmt"
	"io"
	"sync"
)

// Direct I/O of whole data nodes, bypassing the node cache.
//
// Sequential reads and writes through FUSE move 128 KiB-1 MiB per call;
// routing every 4 KiB node through the cache costs a plaintext copy, a cache
// insertion, an eviction with its scrub, and for writes a journaled flush
// each time the cache fills. The direct paths instead seal straight from the
// caller's buffer, or authenticate straight into it, and write or read the
// ciphertext of a run of nodes with one vectored call.
//
// Writing directly is crash-safe only for fresh nodes: whole nodes at or
// beyond diskSize, the largest plaintext size named by any node 0 a crash
// could leave in effect (the last one synced, and every one written since,
// including the pre-image a pending-write flag rolls back to). No state a
// crash can leave reaches them, so they need no journal record and no sync
// of their own; the flush that commits them syncs the host file before it
// writes node 0 (with recovery enabled, as nacre always has it), so they
// are durable before anything names them. Until then their keys and tags
// live only in their dirty, cached MHT nodes. A crash leaves them as
// unreachable tail beyond what node 0 needs, which opening ignores and
// pffs cuts. Nodes below diskSize (say after a shrink that is not yet
// synced) go through the cache and the journal as before.
//
// Large writes are sealed in the background (batch.go); large reads are
// decrypted with the File's lock released (readUnlocked).

// VectorBacking is an optional Backing extension: ReadvAt and WritevAt read
// or write the buffers as one contiguous range starting at off (preadv and
// pwritev), so a run of nodes moves in one call although each node sits in
// its own buffer (GCM needs ciphertext and tag adjacent). A VectorBacking
// must be safe for concurrent use: large reads call ReadvAt without the
// File's lock, concurrently with each other and with writes.
type VectorBacking interface {
	ReadvAt(bufs [][]byte, off int64) (int, error)
	WritevAt(bufs [][]byte, off int64) (int, error)
}

// slot is one node's ciphertext followed by room for its tag.
type slot = [NodeSize + tagSize]byte

// directBufs returns n slots and n iovecs for a direct batch (reused).
func (f *File) directBufs(n int) ([]slot, [][]byte) {
	if len(f.slots) < n {
		f.slots = make([]slot, attachedData)
		f.iov = make([][]byte, attachedData)
	}
	for i := range n {
		f.iov[i] = f.slots[i][:NodeSize]
	}
	return f.slots[:n], f.iov[:n]
}

// writevAt writes bufs (whole nodes) as one range. Without a
// VectorBacking it gathers them into one buffer and one WriteAt: a host
// write per 4 KiB node would cost more than the copy. Callers hold f.mu
// (only a VectorBacking is used without it).
func (f *File) writevAt(bufs [][]byte, off int64) error {
	if vb, ok := f.b.(VectorBacking); ok {
		n, err := vb.WritevAt(bufs, off)
		if err == nil && n != len(bufs)*NodeSize {
			err = io.ErrShortWrite
		}
		return err
	}
	buf := f.gather(len(bufs))
	for i, b := range bufs {
		copy(buf[i*NodeSize:], b)
	}
	_, err := f.b.WriteAt(buf, off)
	return err
}

// readvAt reads a range of whole nodes into bufs; see writevAt.
func (f *File) readvAt(bufs [][]byte, off int64) (int, error) {
	if vb, ok := f.b.(VectorBacking); ok {
		return vb.ReadvAt(bufs, off)
	}
	buf := f.gather(len(bufs))
	n, err := f.b.ReadAt(buf, off)
	for i, b := range bufs {
		copy(b, buf[min(i*NodeSize, n):min((i+1)*NodeSize, n)])
	}
	return n, err
}

// gather returns a buffer for n contiguous nodes (f.runBuf, reused).
func (f *File) gather(n int) []byte {
	if cap(f.runBuf) < n*NodeSize {
		f.runBuf = make([]byte, max(n, 256)*NodeSize)
	}
	return f.runBuf[:n*NodeSize]
}

// directOK reports whether the direct paths may be used at all: with
// GramineFlushPolicy the cache and key order must evolve as in Gramine.
func (f *File) directOK() bool { return !f.opts.GramineFlushPolicy }

// directRun returns how many whole nodes from plaintext offset off (node
// aligned) up to end can go directly: all in off's MHT span, none cached,
// and for writes all fresh.
func (f *File) directRun(off, end uint64, write bool) int {
	if off < MetaDataSize || (off-MetaDataSize)%NodeSize != 0 || end < off+NodeSize {
		return 0
	}
	if write && off < f.diskSize {
		return 0
	}
	_, d, _, phys := nodeNumbers(off)
	k := 0
	for limit := attachedData - int(d%attachedData); k < limit && off+uint64(k+1)*NodeSize <= end; k++ {
		if f.cache.find(phys+uint64(k)) != nil {
			break
		}
	}
	return k
}

// writeDirect queues k whole fresh nodes from p at plaintext offset off
// (node aligned, k from directRun) for sealing and writing: the plaintext
// is copied into the collecting batch, which WriteAt launches in the
// background when it returns (see batch.go). The nodes' MHT entries get
// their keys and tags when the batch is drained.
func (f *File) writeDirect(p []byte, off uint64, k int) error {
	parent, err := f.mhtNodeFor(off)
	if err != nil {
		return err
	}
	_, d0, _, phys := nodeNumbers(off)
	if f.collect == nil {
		f.collect = f.newBatch()
	}
	b := f.collect
	seg := dseg{parent: parent, d0: d0, phys: phys, k: k, first: b.n}
	if f.noCopy {
		seg.src = p[:k*NodeSize] // WriteAtSplit: sealed before the caller reuses p
	} else {
		if need := len(b.plain) + k*NodeSize; cap(b.plain) < need {
			// Room for a whole 1 MiB WRITE at once (the usual batch).
			b.plain = append(make([]byte, 0, max(need, 256*NodeSize)), b.plain...)
		}
		b.plain = append(b.plain, p[:k*NodeSize]...)
	}
	b.segs = append(b.segs, seg)
	b.n += k
	f.raLen = 0
	for m := parent; m.logical != 0; m = m.parent {
		m.dirty = true
		f.cache.get(m.physical)
	}
	f.root.dirty = true
	f.needWriting = true
	if end := off + uint64(k)*NodeSize; end > f.meta.size {
		f.meta.size = end
	}
	return f.evict(nil)
}

// readDirect authenticates k whole uncached nodes at plaintext offset off
// (node aligned, k from directRun) straight into p. On failure the bytes
// of p for the failing node and the ones after it are zeroed and the
// integrity error is returned with the number of nodes before it, which
// did authenticate.
func (f *File) readDirect(p []byte, off uint64, k int) (int, error) {
	m, d0, _, phys := nodeNumbers(off)
	parent, err := f.readMHT(m)
	if err != nil {
		return 0, err
	}
	slots, iov := f.directBufs(k)
	n, err := f.readvAt(iov, int64(phys*NodeSize))
	if n < k*NodeSize {
		clear(p[:k*NodeSize])
		if err == nil || err == io.EOF {
			return 0, f.integrity("read", int64(phys)+int64(n/NodeSize), ErrTruncated,
				"host file ends inside a node the tree needs")
		}
		return 0, f.ioErr("read", int64(phys), err)
	}
	if f.opened == nil || cap(f.opened) < attachedData {
		f.opened = make([]bool, attachedData)
	}
	ok := f.opened[:k]
	forEachNode(k, func(i int) {
		e := parent.dataEntry(d0 + uint64(i))
		ok[i] = openBuf(e[:16], e[16:], &slots[i], p[i*NodeSize:(i+1)*NodeSize]) == nil
	})
	for i := range k {
		if !ok[i] {
			clear(p[i*NodeSize : k*NodeSize])
			d := d0 + uint64(i)
			return i, f.integrity("read", int64(phys)+int64(i), ErrTampered,
				fmt.Sprintf("data node %d (plaintext offset %d) does not match the tag in MHT node %d",
					d, MetaDataSize+d*NodeSize, parent.logical))
		}
	}
	// Keep the MHT path recently used, as a cached read would.
	for a := parent; a.logical != 0; a = a.parent {
		f.cache.get(a.physical)
	}
	return k, nil
}

// unlockedBuf holds one unlocked read's snapshot of keys and tags and its
// ciphertext buffers.
type unlockedBuf struct {
	ent   [attachedData * entrySize]byte
	slots [attachedData]slot
	iov   [attachedData][]byte
	ok    [attachedData]bool
}

var unlockedPool = sync.Pool{New: func() any { return new(unlockedBuf) }}

// readUnlocked serves k whole nodes at plaintext offset off (node aligned,
// k from directRun) into p with f.mu released during the host read and the
// decryption, so concurrent large READs use every core. Under the lock it
// copies the nodes' keys and tags out of their authenticated MHT node; a
// node rewritten meanwhile (new key) simply fails to authenticate. It
// returns false, with p's bytes zeroed, on any failure: the caller then
// serves the range under the lock, which reports the failure. It is called
// and returns with f.mu held.
func (f *File) readUnlocked(p []byte, off uint64, k int) bool {
	vb, ok := f.b.(VectorBacking)
	if !ok {
		return false
	}
	m, d0, _, phys := nodeNumbers(off)
	parent, err := f.readMHT(m)
	if err != nil {
		return false
	}
	u := unlockedPool.Get().(*unlockedBuf)
	defer unlockedPool.Put(u)
	i0 := int(d0 % attachedData)
	copy(u.ent[:k*entrySize], parent.plain[i0*entrySize:])
	for a := parent; a.logical != 0; a = a.parent {
		f.cache.get(a.physical)
	}
	f.mu.Unlock()
	good := false
	defer func() {
		clear(u.ent[:k*entrySize])
		f.mu.Lock()
		if !good {
			clear(p[:k*NodeSize])
		}
	}()
	iov := u.iov[:k]
	for i := range iov {
		iov[i] = u.slots[i][:NodeSize]
	}
	n, err := vb.ReadvAt(iov, int64(phys*NodeSize))
	if err != nil || n != k*NodeSize {
		return false
	}
	forEachNode(k, func(i int) {
		e := u.ent[i*entrySize : (i+1)*entrySize]
		u.ok[i] = openBuf(e[:16], e[16:], &u.slots[i], p[i*NodeSize:(i+1)*NodeSize]) == nil
	})
	for i := range k {
		if !u.ok[i] {
			return false
		}
	}
	good = true
	return true
}
