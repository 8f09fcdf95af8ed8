package pf

import (
	"fmt"
	"io"
	"sync"
)

// Background sealing of direct writes.
//
// A large write queues its whole fresh nodes in the collecting batch, which
// is then put in flight: WriteAt copies their plaintext into the batch and
// starts a goroutine that seals and writes it, so the kernel can send the
// next WRITE at once; WriteAtSplit (pffs) does not copy, and its caller
// seals and writes the batch from its own buffer (finish) after letting
// the next write in. Up to maxInflight batches are in flight, so
// consecutive WRITEs seal on different cores instead of each waiting for
// the one before (measured: the WRITE handlers, which pffs admits one at a
// time in offset order, were the serial chain). Their host writes still
// happen in batch order, each after the previous batch's: a node rewritten
// by a later batch ends with the later ciphertext, matching the entry
// installed last, and an appended file grows without holes. Until a batch
// is drained, the MHT entries of its nodes are stale, so everything that
// reads entries, reads data nodes from the host or commits (ReadAt, flush,
// Truncate, Close, a cache miss of a write) drains first, waiting for the
// batches in flight. A failed batch fails the File (sticky, like every
// write error): the next operation, and at the latest the next Flush,
// returns the error.

// maxInflight bounds the batches being sealed at once (each holds up to
// ~1 MiB of plaintext and its ciphertext).
const maxInflight = 3

// dseg is a run of direct nodes under one MHT node.
type dseg struct {
	parent *node
	d0     uint64 // first logical data node
	phys   uint64 // its physical node
	k      int
	first  int    // index of its first node in the batch
	src    []byte // the caller's plaintext (WriteAtSplit), or nil: in plain
}

type dbatch struct {
	plain []byte   // copied plaintext of the segments without src, scrubbed once sealed
	pl    [][]byte // each node's plaintext while sealing
	keys  []byte   // 16 bytes per node
	tags  [][16]byte
	slots []slot
	iov   [][]byte
	segs  []dseg
	n     int
	err   error
	done  chan struct{}
}

// batchPool keeps drained batches (scrubbed, see install) across files: a
// file rewritten again and again would otherwise grow new ~2 MiB buffers
// at every open.
var batchPool = sync.Pool{New: func() any { return new(dbatch) }}

func (f *File) newBatch() *dbatch {
	if k := len(f.spare); k > 0 {
		b := f.spare[k-1]
		f.spare = f.spare[:k-1]
		return b
	}
	return batchPool.Get().(*dbatch)
}

// releaseBatches hands the File's spare batches to batchPool (at Close).
func (f *File) releaseBatches() {
	for _, b := range f.spare {
		batchPool.Put(b)
	}
	f.spare = nil
}

// launch starts the collecting batch in the background (see start).
func (f *File) launch() error {
	if _, ok := f.b.(VectorBacking); !ok {
		// Only a VectorBacking promises to be safe for concurrent use.
		return f.drain()
	}
	run, err := f.start()
	if run != nil {
		go run()
	}
	return err
}

// start puts the collecting batch in flight, after draining the oldest
// batch if maxInflight are in flight, and returns the function that seals
// and writes it (nil if there is nothing to do). Whoever runs it needs no
// lock; its host write waits for the batch before it.
func (f *File) start() (run func(), err error) {
	b := f.collect
	if b == nil || b.n == 0 {
		return nil, nil
	}
	if len(f.inflight) >= maxInflight {
		if err := f.drainOldest(); err != nil {
			return nil, err
		}
	}
	if err := f.prepare(b); err != nil {
		return nil, f.fail(err)
	}
	var prev chan struct{}
	if k := len(f.inflight); k > 0 {
		prev = f.inflight[k-1].done
	}
	f.collect = nil
	f.inflight = append(f.inflight, b)
	b.done = make(chan struct{})
	return func() {
		f.seal(b)
		if prev != nil {
			<-prev // host writes in batch order
		}
		b.err = f.writeBatch(b)
		close(b.done)
	}, nil
}

// drain finishes every queued direct write and installs the keys and tags
// in the MHT nodes.
func (f *File) drain() error {
	err := f.drainInflight()
	if b := f.collect; b != nil && f.failed != nil {
		// A failed File commits nothing more: drop the queued nodes
		// unwritten. They may point into a WriteAtSplit caller's buffer,
		// which is the caller's again once the error is returned.
		f.collect = nil
		f.drop(b, f.failed)
	}
	if err != nil {
		return err
	}
	if b := f.collect; b != nil && b.n > 0 {
		f.collect = nil
		if err := f.prepare(b); err != nil {
			f.drop(b, err)
			return f.fail(err)
		}
		err := f.run(b)
		f.install(b)
		if err != nil {
			return f.fail(err)
		}
	}
	return nil
}

// drainInflight waits for every batch in flight and installs them, oldest
// first; the first failure fails the File.
func (f *File) drainInflight() error {
	var first error
	for len(f.inflight) > 0 {
		if err := f.drainOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// drainOldest waits for the oldest batch in flight and installs it.
func (f *File) drainOldest() error {
	b := f.inflight[0]
	<-b.done
	k := copy(f.inflight, f.inflight[1:])
	f.inflight[k] = nil
	f.inflight = f.inflight[:k]
	err := b.err
	f.install(b)
	if err != nil {
		return f.fail(err)
	}
	return nil
}

// prepare draws the batch's keys (under f.mu: the random source is not
// shared with the goroutine) and sizes its buffers.
func (f *File) prepare(b *dbatch) error {
	if cap(b.keys) < b.n*16 {
		b.keys = make([]byte, b.n*16)
		b.tags = make([][16]byte, b.n)
		b.slots = make([]slot, b.n)
		b.iov = make([][]byte, b.n)
		b.pl = make([][]byte, b.n)
	}
	b.keys, b.tags, b.slots, b.iov, b.pl = b.keys[:b.n*16], b.tags[:b.n], b.slots[:b.n], b.iov[:b.n], b.pl[:b.n]
	if _, err := io.ReadFull(f.rnd, b.keys); err != nil {
		return f.ioErr("write", -1, fmt.Errorf("random source: %w", err))
	}
	return nil
}

// run seals the batch and writes it; it touches only the batch and the
// Backing (a VectorBacking is safe for concurrent use; others are only
// used synchronously, see launch).
func (f *File) run(b *dbatch) error {
	f.seal(b)
	return f.writeBatch(b)
}

// seal encrypts the batch's nodes (on every core) and scrubs its copied
// plaintext.
func (f *File) seal(b *dbatch) {
	at := 0
	for _, s := range b.segs {
		src := s.src
		if src == nil {
			src = b.plain[at : at+s.k*NodeSize]
			at += s.k * NodeSize
		}
		for j := range s.k {
			b.pl[s.first+j] = src[j*NodeSize : (j+1)*NodeSize]
		}
	}
	forEachNode(b.n, func(i int) {
		b.tags[i] = sealBuf(b.keys[i*16:(i+1)*16], b.pl[i], &b.slots[i])
		b.iov[i] = b.slots[i][:NodeSize]
	})
	clear(b.pl) // the caller's buffers are the caller's again
	clear(b.plain)
}

// writeBatch writes the sealed batch with one vectored write per MHT span.
func (f *File) writeBatch(b *dbatch) error {
	for _, s := range b.segs {
		if err := f.writevAt(b.iov[s.first:s.first+s.k], int64(s.phys*NodeSize)); err != nil {
			return f.ioErr("write", int64(s.phys), err)
		}
		if ws, ok := f.b.(WritebackStarter); ok {
			ws.StartWriteback(int64(s.phys*NodeSize), int64(s.k*NodeSize))
		}
	}
	return nil
}

// drop discards a batch that is not in flight, unwritten: its copied
// plaintext is scrubbed and nothing is installed.
func (f *File) drop(b *dbatch, err error) {
	clear(b.plain)
	b.err = err
	f.install(b)
}

// install copies the batch's keys and tags into the MHT entries and keeps
// the batch for reuse.
func (f *File) install(b *dbatch) {
	f.raLen = 0 // the read-ahead window may hold the nodes' old ciphertext
	if b.err == nil {
		for _, s := range b.segs {
			for i := range s.k {
				e := s.parent.dataEntry(s.d0 + uint64(i))
				copy(e[:16], b.keys[(s.first+i)*16:])
				copy(e[16:], b.tags[s.first+i][:])
			}
		}
	}
	clear(b.keys)
	clear(b.segs)
	b.segs, b.plain, b.n, b.err, b.done = b.segs[:0], b.plain[:0], 0, nil, nil
	if len(f.spare) < maxInflight+1 {
		f.spare = append(f.spare, b)
	} else {
		batchPool.Put(b)
	}
}
