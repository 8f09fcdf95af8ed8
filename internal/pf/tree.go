package pf

import (
	"fmt"
	"io"
)

// dataNode returns the data node holding plaintext offset off (>= 3072),
// appending a new node when off is the aligned end of the file, reading and
// authenticating it otherwise, then applies Gramine's cache policy.
func (f *File) dataNode(off uint64) (*node, error) {
	var n *node
	var err error
	if (off-MetaDataSize)%NodeSize == 0 && off == f.meta.size {
		n, err = f.appendData(off)
	} else {
		n, err = f.readData(off)
	}
	if n != nil {
		// Keep ancestors more recently used than the node, so they are
		// evicted after it.
		for m := n.parent; m.logical != 0; m = m.parent {
			f.cache.get(m.physical)
		}
	}
	// Even on failure, nodes may have been read along the way.
	if eerr := f.evict(n); eerr != nil {
		return nil, eerr
	}
	return n, err
}

// evict shrinks the cache to its capacity, flushing when only dirty nodes
// can go; keep (the node being returned) stays.
func (f *File) evict(keep *node) error {
	for f.cache.len() > f.cacheCap {
		t := f.cache.tail
		if t.children > 0 || t == keep {
			// An MHT node whose children are cached, or the node being
			// returned, must stay (unreachable with Gramine's ancestor
			// bumping and a sane cache size; be safe anyway).
			f.cache.get(t.physical)
			continue
		}
		if !t.dirty {
			f.release(t)
			continue
		}
		if err := f.flush(); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) mhtNodeFor(off uint64) (*node, error) {
	m, _, _, _ := nodeNumbers(off)
	if m == 0 {
		return f.root, nil
	}
	if (off-MetaDataSize)%dataPerMHTSpan == 0 && off == f.meta.size {
		return f.appendMHT(m)
	}
	return f.readMHT(m)
}

func (f *File) appendMHT(m uint64) (*node, error) {
	parent, err := f.readMHT((m - 1) / childMHT)
	if err != nil {
		return nil, err
	}
	n := f.newNode(true, m, mhtPhysical(m), parent, true)
	f.cache.add(n)
	return n, nil
}

func (f *File) readMHT(m uint64) (*node, error) {
	if m == 0 {
		return f.root, nil
	}
	phys := mhtPhysical(m)
	if n := f.cache.find(phys); n != nil {
		return n, nil
	}
	parent, err := f.readMHT((m - 1) / childMHT)
	if err != nil {
		return nil, err
	}
	n := f.newNode(true, m, phys, parent, false)
	if err := f.readNode("read", phys, n.enc[:NodeSize]); err != nil {
		return nil, err
	}
	e := parent.childEntry(m)
	if err := openBuf(e[:16], e[16:], &n.enc, n.plain[:]); err != nil {
		return nil, f.integrity("read", int64(phys), ErrTampered,
			fmt.Sprintf("MHT node %d does not match the tag in its parent", m))
	}
	f.cache.add(n)
	return n, nil
}

func (f *File) appendData(off uint64) (*node, error) {
	parent, err := f.mhtNodeFor(off)
	if err != nil {
		return nil, err
	}
	_, d, _, phys := nodeNumbers(off)
	n := f.newNode(false, d, phys, parent, true)
	f.cache.add(n)
	return n, nil
}

func (f *File) readData(off uint64) (*node, error) {
	_, d, _, phys := nodeNumbers(off)
	if n := f.cache.get(phys); n != nil {
		return n, nil
	}
	parent, err := f.mhtNodeFor(off)
	if err != nil {
		return nil, err
	}
	n := f.newNode(false, d, phys, parent, false)
	if err := f.readNode("read", phys, n.enc[:NodeSize]); err != nil {
		return nil, err
	}
	e := parent.dataEntry(d)
	if err := openBuf(e[:16], e[16:], &n.enc, n.plain[:]); err != nil {
		return nil, f.integrity("read", int64(phys), ErrTampered,
			fmt.Sprintf("data node %d (plaintext offset %d) does not match the tag in MHT node %d",
				d, MetaDataSize+d*NodeSize, parent.logical))
	}
	f.cache.add(n)
	return n, nil
}

// newNode takes a node from the free list (plaintext already scrubbed) or
// allocates one. An appended node has no on-disk pre-image: enc is zeroed.
func (f *File) newNode(mht bool, logical, phys uint64, parent *node, appended bool) *node {
	var n *node
	if k := len(f.free); k > 0 {
		n = f.free[k-1]
		f.free = f.free[:k-1]
		if appended {
			clear(n.enc[:])
		}
	} else {
		n = new(node)
	}
	n.mht, n.logical, n.physical, n.parent = mht, logical, phys, parent
	n.children, n.dirty = 0, false
	return n
}

// release scrubs an evicted node and keeps it for reuse.
func (f *File) release(n *node) {
	f.cache.remove(n)
	n.parent = nil
	if len(f.free) < 64 {
		f.free = append(f.free, n)
	}
}

func (f *File) randKey(k []byte) error {
	if _, err := io.ReadFull(f.rnd, k); err != nil {
		return f.ioErr("flush", -1, fmt.Errorf("random source: %w", err))
	}
	return nil
}
