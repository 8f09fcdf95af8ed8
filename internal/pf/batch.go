package pf

import (
	"fmt"
	"io"
)

// Background sealing of direct writes.
//
// A large WRITE copies its whole fresh nodes into the collecting batch and
// returns; the batch is sealed (on every core) and written to the host file
// by a goroutine while the kernel sends the next WRITE. At most one batch
// is in flight: launching the next one waits for it. Until a batch is
// drained, the MHT entries of its nodes are stale, so everything that reads
// entries, reads data nodes from the host or commits (ReadAt, flush,
// Truncate, Close, a cache miss of a write) drains first. A failed batch
// fails the File (sticky, like every write error): the next operation, and
// at the latest the next Flush, returns the error.

// dseg is a run of direct nodes under one MHT node.
type dseg struct {
	parent *node
	d0     uint64 // first logical data node
	phys   uint64 // its physical node
	k      int
	first  int // index of its first node in the batch
}

type dbatch struct {
	plain []byte // n nodes of plaintext, scrubbed once sealed
	keys  []byte // 16 bytes per node
	tags  [][16]byte
	slots []slot
	iov   [][]byte
	segs  []dseg
	n     int
	err   error
	done  chan struct{}
}

func (f *File) newBatch() *dbatch {
	if b := f.spare; b != nil {
		f.spare = nil
		return b
	}
	return &dbatch{}
}

// launch starts the collecting batch in the background, after the batch in
// flight (if any) is drained.
func (f *File) launch() error {
	b := f.collect
	if b == nil || b.n == 0 {
		return nil
	}
	if _, ok := f.b.(VectorBacking); !ok {
		// Only a VectorBacking promises to be safe for concurrent use.
		return f.drain()
	}
	if err := f.drainInflight(); err != nil {
		return err
	}
	if err := f.prepare(b); err != nil {
		return f.fail(err)
	}
	f.collect = nil
	f.inflight = b
	b.done = make(chan struct{})
	go func() {
		b.err = f.run(b)
		close(b.done)
	}()
	return nil
}

// drain finishes every queued direct write and installs the keys and tags
// in the MHT nodes.
func (f *File) drain() error {
	if err := f.drainInflight(); err != nil {
		return err
	}
	if b := f.collect; b != nil && b.n > 0 {
		f.collect = nil
		if err := f.prepare(b); err != nil {
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

func (f *File) drainInflight() error {
	b := f.inflight
	if b == nil {
		return nil
	}
	<-b.done
	f.inflight = nil
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
	}
	b.keys, b.tags, b.slots, b.iov = b.keys[:b.n*16], b.tags[:b.n], b.slots[:b.n], b.iov[:b.n]
	if _, err := io.ReadFull(f.rnd, b.keys); err != nil {
		return f.ioErr("write", -1, fmt.Errorf("random source: %w", err))
	}
	return nil
}

// run seals the batch and writes it; it touches only the batch and the
// Backing (a VectorBacking is safe for concurrent use; others are only
// used synchronously, see launch's caller).
func (f *File) run(b *dbatch) error {
	forEachNode(b.n, func(i int) {
		b.tags[i] = sealBuf(b.keys[i*16:(i+1)*16], b.plain[i*NodeSize:(i+1)*NodeSize], &b.slots[i])
		b.iov[i] = b.slots[i][:NodeSize]
	})
	clear(b.plain)
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
	f.spare = b
}
