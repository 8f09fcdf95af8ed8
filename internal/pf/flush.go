package pf

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// flush is Gramine's ipf_internal_flush: re-encrypt every dirty node with a
// fresh key (data nodes, then MHT nodes bottom-up, then the root), derive a
// fresh metadata key, then write nodes, root and finally node 0.
func (f *File) flush() error {
	// Queued direct writes first: their MHT entries must be final.
	if err := f.drain(); err != nil {
		return err
	}
	if !f.needWriting {
		return nil
	}
	if f.failed != nil {
		return f.failed
	}
	tree := f.meta.size > MetaDataSize && f.root.dirty
	// Gramine journals only tree flushes; nacre also journals metadata-only
	// flushes of a file that exists on disk, so a torn node-0 write can be
	// rolled back too (the journal format is unchanged).
	journal := f.opts.EnableRecovery && (tree || f.onDisk)
	if journal {
		if err := f.writeJournal(tree); err != nil {
			return f.fail(err)
		}
	}
	if tree {
		if err := f.encryptTree(); err != nil {
			return f.fail(err)
		}
	}
	if err := f.encryptMeta(); err != nil {
		return f.fail(err)
	}
	if tree {
		if err := f.writeDirty(); err != nil {
			return f.fail(err)
		}
		if err := f.writeNode(1, f.root.enc[:NodeSize]); err != nil {
			return f.fail(err)
		}
		f.root.dirty = false
	}
	if journal {
		// The new nodes must be durable before node 0 (flag clear) commits
		// them; otherwise a crash could keep the commit and lose the nodes.
		if err := f.b.Sync(); err != nil {
			return f.fail(f.ioErr("flush", -1, err))
		}
		f.diskSize = f.lastMetaSize
	}
	if err := f.writeNode(0, f.diskMeta[:]); err != nil {
		return f.fail(err)
	}
	f.lastMetaSize = f.meta.size
	f.diskSize = max(f.diskSize, f.meta.size)
	f.needWriting = false
	f.onDisk = true
	return nil
}

// writeDirty writes the re-encrypted dirty nodes. With GramineFlushPolicy it
// issues one write per node in cache order, as Gramine does (the crash
// vectors depend on it); otherwise it sorts them and coalesces runs of
// adjacent nodes into larger writes, which saves most syscalls.
func (f *File) writeDirty() error {
	f.raLen = 0
	var dirty []*node
	for n := f.cache.head; n != nil; n = n.next {
		if n.dirty {
			dirty = append(dirty, n)
		}
	}
	if f.opts.GramineFlushPolicy {
		for _, n := range dirty {
			if err := f.writeNode(n.physical, n.enc[:NodeSize]); err != nil {
				return err
			}
			n.dirty = false
		}
		return nil
	}
	slices.SortFunc(dirty, func(a, b *node) int { return cmpU64(a.physical, b.physical) })
	const maxRun = 256
	for i := 0; i < len(dirty); {
		j := i + 1
		for j < len(dirty) && j-i < maxRun && dirty[j].physical == dirty[j-1].physical+1 {
			j++
		}
		if j-i == 1 {
			if err := f.writeNode(dirty[i].physical, dirty[i].enc[:NodeSize]); err != nil {
				return err
			}
		} else {
			if cap(f.runBuf) < (j-i)*NodeSize {
				f.runBuf = make([]byte, maxRun*NodeSize)
			}
			buf := f.runBuf[:(j-i)*NodeSize]
			for k, n := range dirty[i:j] {
				copy(buf[k*NodeSize:], n.enc[:NodeSize])
			}
			off := int64(dirty[i].physical * NodeSize)
			if _, err := f.b.WriteAt(buf, off); err != nil {
				return f.ioErr("flush", int64(dirty[i].physical), err)
			}
			if ws, ok := f.b.(WritebackStarter); ok {
				ws.StartWriteback(off, int64(len(buf)))
			}
		}
		for _, n := range dirty[i:j] {
			n.dirty = false
		}
		i = j
	}
	return nil
}

// encryptTree draws keys in Gramine's order: dirty data nodes in cache order
// (most recent first), dirty MHT nodes from the highest logical number down,
// then the root.
func (f *File) encryptTree() error {
	var mhts []*node
	data := f.sealBatch[:0]
	for n := f.cache.head; n != nil; n = n.next {
		if !n.dirty {
			continue
		}
		if n.mht {
			mhts = append(mhts, n)
			continue
		}
		// Keys are drawn here, in Gramine's order; the sealing below may
		// run in any order (each node writes only its own entry).
		e := n.parent.dataEntry(n.logical)
		if err := f.randKey(e[:16]); err != nil {
			return err
		}
		data = append(data, n)
	}
	forEachNode(len(data), func(i int) {
		n := data[i]
		e := n.parent.dataEntry(n.logical)
		tag := sealBuf(e[:16], n.plain[:], &n.enc)
		copy(e[16:], tag[:])
	})
	clear(data)
	f.sealBatch = data[:0]
	// MHT nodes after all data nodes: their plaintext holds the data tags.
	slices.SortFunc(mhts, func(a, b *node) int { return -cmpU64(a.logical, b.logical) })
	for _, n := range mhts {
		e := n.parent.childEntry(n.logical)
		if err := f.randKey(e[:16]); err != nil {
			return err
		}
		tag := sealBuf(e[:16], n.plain[:], &n.enc)
		copy(e[16:], tag[:])
	}
	if err := f.randKey(f.meta.rootKey[:]); err != nil {
		return err
	}
	f.meta.rootMAC = sealBuf(f.meta.rootKey[:], f.root.plain[:], &f.root.enc)
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// encryptMeta draws a fresh nonce, derives the metadata key and rebuilds
// node 0 (always in v2 layout, flags clear) in f.diskMeta.
func (f *File) encryptMeta() error {
	if err := f.randKey(f.hdr.nonce[:]); err != nil {
		return err
	}
	key := deriveMetadataKey(f.kdk, f.hdr.nonce)
	var plain, enc [encMetaSize]byte
	f.meta.marshal(plain[:])
	scratch := make([]byte, 0, encMetaSize+tagSize)
	f.hdr.mac = sealNode(key[:], plain[:], enc[:], scratch)
	clear(plain[:])
	f.hdr.major, f.hdr.minor, f.hdr.flags = majorV2, 0, 0
	buildNode0(f.diskMeta[:], &f.hdr, enc[:])
	return nil
}

// writeJournal saves the on-disk pre-image of every node this flush will
// rewrite (dirty nodes in cache order, node 1, node 0) to the recovery
// backing, then marks node 0 on disk as "pending write". Must run before
// encryptTree, which overwrites the pre-images.
func (f *File) writeJournal(tree bool) error {
	rb := f.opts.RecoveryBacking
	if err := rb.Truncate(0); err != nil {
		return f.ioErr("flush", -1, err)
	}
	var rec [recordSize]byte
	off := int64(0)
	put := func(phys uint64, img []byte) error {
		binary.LittleEndian.PutUint64(rec[:8], phys)
		copy(rec[8:], img)
		if _, err := rb.WriteAt(rec[:], off); err != nil {
			return f.ioErr("flush", int64(phys), err)
		}
		off += recordSize
		return nil
	}
	if tree {
		for n := f.cache.head; n != nil; n = n.next {
			if n.dirty {
				if err := put(n.physical, n.enc[:NodeSize]); err != nil {
					return err
				}
			}
		}
		if err := put(1, f.root.enc[:NodeSize]); err != nil {
			return err
		}
	}
	if err := put(0, f.diskMeta[:]); err != nil {
		return err
	}
	if err := rb.Sync(); err != nil {
		return f.ioErr("flush", -1, err)
	}
	var flagged [NodeSize]byte
	copy(flagged[:], f.diskMeta[:])
	flagged[metaFlagsOff] |= flagPendingWr
	if err := f.writeNode(0, flagged[:]); err != nil {
		return err
	}
	if err := f.b.Sync(); err != nil {
		return f.ioErr("flush", 0, err)
	}
	f.diskSize = f.lastMetaSize // the flagged node 0 rolls back to it
	return nil
}

// recover rolls an interrupted flush back by copying every journal record
// into the host file.
func (f *File) recover() error {
	rb := f.opts.RecoveryBacking
	if !f.opts.EnableRecovery {
		// Gramine ignores the flag when recovery is off; the tree checks
		// below then catch any half-written state.
		f.opts.Logger.Debug("pf: pending-write flag set but recovery disabled", "path", f.name)
		return nil
	}
	fail := func(detail string) error {
		return f.integrity("recover", 0, ErrRecoveryNeeded, detail)
	}
	if rb == nil || f.opts.ReadOnly {
		return fail("a flush was interrupted; open read-write with the .gramine.recovery journal to roll it back")
	}
	size, err := rb.Size()
	if err != nil {
		return f.ioErr("recover", -1, err)
	}
	if size == 0 || size%recordSize != 0 {
		return fail("recovery journal missing or damaged (size is not a non-zero multiple of 4104)")
	}
	return f.replay()
}

// journalMatches reports whether recovery is enabled and the journal's last
// record is a node 0 that authenticates under the file's key.
func (f *File) journalMatches() bool {
	rb := f.opts.RecoveryBacking
	if !f.opts.EnableRecovery || rb == nil || f.opts.ReadOnly {
		return false
	}
	size, err := rb.Size()
	if err != nil || size == 0 || size%recordSize != 0 {
		return false
	}
	var rec [recordSize]byte
	if _, err := rb.ReadAt(rec[:], size-recordSize); err != nil || binary.LittleEndian.Uint64(rec[:8]) != 0 {
		return false
	}
	h, enc, err := parseNode0(rec[8:])
	if err != nil {
		return false
	}
	k := deriveMetadataKey(f.kdk, h.nonce)
	var plain [encMetaSize]byte
	return openNode(k[:], h.mac[:], enc, plain[:], nil) == nil
}

// replay copies every journal record into the host file.
func (f *File) replay() error {
	f.raLen = 0
	rb := f.opts.RecoveryBacking
	fail := func(detail string) error {
		return f.integrity("recover", 0, ErrRecoveryNeeded, detail)
	}
	size, err := rb.Size()
	if err != nil {
		return f.ioErr("recover", -1, err)
	}
	hostSize, err := f.b.Size()
	if err != nil {
		return f.ioErr("recover", -1, err)
	}
	// A record names a node that existed or was being appended by the
	// interrupted flush; appended nodes (and their MHT nodes) lie within a
	// few records of the end. Anything further is a damaged or hostile
	// journal that would make us write far beyond the file.
	limit := uint64(hostSize)/NodeSize + 2*uint64(size/recordSize) + 2
	var rec [recordSize]byte
	for off := int64(0); off < size; off += recordSize {
		if _, err := rb.ReadAt(rec[:], off); err != nil {
			return f.ioErr("recover", -1, err)
		}
		phys := binary.LittleEndian.Uint64(rec[:8])
		if phys > limit {
			return fail(fmt.Sprintf("journal record names node %d, far beyond the file's %d nodes", phys, hostSize/NodeSize))
		}
		if _, err := f.b.WriteAt(rec[8:], int64(phys*NodeSize)); err != nil {
			return f.ioErr("recover", int64(phys), err)
		}
	}
	if err := f.b.Sync(); err != nil {
		return f.ioErr("recover", -1, err)
	}
	f.opts.Logger.Info("pf: rolled back an interrupted flush", "path", f.name, "records", size/recordSize)
	return nil
}
