package pf

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// RecoverySuffix is appended to a protected file's host path to name its
// recovery journal, as in Gramine ("<file>.gramine.recovery").
const RecoverySuffix = ".gramine.recovery"

// GramineCacheNodes is the size of Gramine's per-file node cache.
const GramineCacheNodes = 48

// DefaultCacheNodes is nacre's default node cache size (about 2 MiB of
// plaintext+ciphertext per open file); bigger than Gramine's so large
// sequential writes flush the tree less often.
const DefaultCacheNodes = 256

// minCacheNodes is the smallest cache the tree walk needs.
const minCacheNodes = 16

// maxPlainSize bounds the plaintext size so host offsets fit in an int64.
const maxPlainSize = 1 << 62

// Options tune how a protected file is opened. The zero value is usable.
type Options struct {
	// Rand supplies node keys and metadata nonces (default crypto/rand).
	Rand io.Reader
	// CacheNodes bounds the number of cached data/MHT nodes (default
	// DefaultCacheNodes; GramineCacheNodes with GramineFlushPolicy).
	CacheNodes int
	// GramineFlushPolicy uses Gramine's 48-node cache, so the file is flushed
	// at exactly the moments Gramine flushes it and, with the same random
	// source, the output is byte-for-byte identical to Gramine's.
	GramineFlushPolicy bool
	// ReadOnly refuses writes; the file is never modified (not even by
	// recovery, which then fails with ErrRecoveryNeeded).
	ReadOnly bool
	// SkipPathCheck opens a file whatever path is bound into it (like
	// gramine-sgx-pf-crypt decrypt without -V).
	SkipPathCheck bool
	// EnableRecovery keeps a recovery journal in RecoveryBacking (Gramine's
	// enable_recovery): before a flush rewrites nodes, their old contents
	// are journaled; on open an interrupted flush is rolled back from it.
	EnableRecovery  bool
	RecoveryBacking Backing
	// Logger receives debug messages (default slog.Default()).
	Logger *slog.Logger
}

// File is an open protected file. Its methods are safe for concurrent use.
type File struct {
	mu       sync.Mutex
	b        Backing
	kdk      [16]byte
	opts     Options
	rnd      io.Reader
	name     string // path used for errors
	cacheCap int

	hdr      metaHeader
	meta     metaPlain
	diskMeta [NodeSize]byte // node 0 as on disk (v2 layout), recovery pre-image
	root     *node
	cache    *lru

	needWriting bool
	onDisk      bool  // node 0 of this file exists on disk (not a fresh Create)
	failed      error // sticky: once set every operation returns it
	closed      bool
	free        []*node // evicted nodes for reuse (saves 8 KiB allocations)
	runBuf      []byte  // coalesced writes of adjacent dirty nodes
	sealBatch   []*node // dirty data nodes of a flush, sealed in parallel
	opened      []bool  // per-node results of a locked direct read
	ra          []byte  // read-ahead window: raLen nodes from raStart
	raStart     uint64
	raLen       uint64
	lastRead    uint64

	// diskSize is the largest plaintext size named by a node 0 that a
	// crash could leave in effect (written since the last sync, or synced);
	// whole nodes at or beyond it are fresh (see direct.go).
	diskSize     uint64
	lastMetaSize uint64   // size in the node 0 written last
	slots        []slot   // readDirect's ciphertext buffers
	iov          [][]byte // and their iovecs

	// Direct writes queued (collect) and being sealed (inflight); see
	// batch.go.
	collect  *dbatch
	inflight []*dbatch // oldest first
	spare    []*dbatch
	noCopy   bool // in WriteAtSplit: direct nodes are sealed from the caller's p
}

// Open opens an existing protected file. path is the normalized path the file
// is expected to be bound to (see NormalizePath); it is compared byte for byte
// with the path stored in the file unless opts.SkipPathCheck is set.
func Open(b Backing, path string, key [16]byte, opts Options) (*File, error) {
	f, err := newFile(b, path, key, opts)
	if err != nil {
		return nil, err
	}
	if err := f.openExisting(path); err != nil {
		return nil, err
	}
	return f, nil
}

// Create initializes a new, empty protected file bound to path in b (which
// is truncated) and writes its first metadata node.
func Create(b Backing, path string, key [16]byte, opts Options) (*File, error) {
	if opts.ReadOnly {
		return nil, &Error{Op: "create", Path: path, Node: -1, Kind: ErrReadOnly}
	}
	f, err := newFile(b, path, key, opts)
	if err != nil {
		return nil, err
	}
	if err := b.Truncate(0); err != nil {
		return nil, f.ioErr("create", -1, err)
	}
	if opts.EnableRecovery {
		// A journal left by an earlier file of this name must never be
		// replayed into the new one.
		if err := opts.RecoveryBacking.Truncate(0); err != nil {
			return nil, f.ioErr("create", -1, err)
		}
	}
	f.hdr.major = majorV2
	copy(f.meta.path[:], path)
	f.needWriting = true
	if err := f.flush(); err != nil {
		return nil, err
	}
	return f, nil
}

func newFile(b Backing, path string, key [16]byte, opts Options) (*File, error) {
	if len(path) > MaxPathLen {
		return nil, &Error{Op: "open", Path: path[:64] + "...", Node: -1, Kind: ErrPathTooLong,
			Detail: fmt.Sprintf("%d bytes", len(path))}
	}
	f := &File{b: b, kdk: key, opts: opts, rnd: opts.Rand, name: path, cache: newLRU()}
	if f.rnd == nil {
		f.rnd = rand.Reader
	}
	f.cacheCap = opts.CacheNodes
	if f.cacheCap <= 0 {
		f.cacheCap = DefaultCacheNodes
		if opts.GramineFlushPolicy {
			f.cacheCap = GramineCacheNodes
		}
	}
	// The cache must hold a data node plus all its MHT ancestors (a 2^62-byte
	// file has 9 MHT levels).
	f.cacheCap = max(f.cacheCap, minCacheNodes)
	if opts.Logger == nil {
		f.opts.Logger = slog.Default()
	}
	if opts.EnableRecovery && opts.RecoveryBacking == nil && !opts.ReadOnly {
		return nil, &Error{Op: "open", Path: path, Node: -1, Detail: "EnableRecovery needs a RecoveryBacking"}
	}
	f.root = &node{mht: true, logical: 0, physical: 1}
	return f, nil
}

func (f *File) ioErr(op string, node int64, err error) error {
	return &Error{Op: op, Path: f.name, Node: node, Err: err}
}

func (f *File) integrity(op string, node int64, kind error, detail string) error {
	return &Error{Op: op, Path: f.name, Node: node, Kind: kind, Detail: detail}
}

// readAhead is how many nodes a sequential miss reads in one call.
const readAhead = 32

// readNode reads physical node phys; a short read means the host file is
// shorter than the tree needs. Sequential access is served from a read-ahead
// window (ciphertext only: every node is still authenticated by its caller).
func (f *File) readNode(op string, phys uint64, buf []byte) error {
	if phys >= f.raStart && phys < f.raStart+f.raLen {
		copy(buf[:NodeSize], f.ra[(phys-f.raStart)*NodeSize:])
		f.lastRead = phys
		return nil
	}
	if phys > 1 && phys == f.lastRead+1 {
		if f.ra == nil {
			f.ra = make([]byte, readAhead*NodeSize)
		}
		n, _ := f.b.ReadAt(f.ra, int64(phys*NodeSize))
		if n >= NodeSize {
			f.raStart, f.raLen = phys, uint64(n/NodeSize)
			copy(buf[:NodeSize], f.ra)
			f.lastRead = phys
			return nil
		}
		f.raLen = 0
	}
	f.lastRead = phys
	n, err := f.b.ReadAt(buf[:NodeSize], int64(phys*NodeSize))
	if n == NodeSize {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return f.integrity(op, int64(phys), ErrTruncated,
			fmt.Sprintf("host file ends inside node %d (the tree needs it)", phys))
	}
	return f.ioErr(op, int64(phys), err)
}

func (f *File) writeNode(phys uint64, buf []byte) error {
	f.raLen = 0 // the window may now be stale
	if _, err := f.b.WriteAt(buf[:NodeSize], int64(phys*NodeSize)); err != nil {
		return f.ioErr("flush", int64(phys), err)
	}
	return nil
}

func (f *File) openExisting(path string) error {
	size, err := f.b.Size()
	if err != nil {
		return f.ioErr("open", -1, err)
	}
	if size == 0 {
		return f.integrity("open", 0, ErrTruncated, "host file is empty")
	}
	var raw [NodeSize]byte
	if size >= NodeSize {
		if err := f.readNode("open", 0, raw[:]); err != nil {
			return err
		}
		f.onDisk = true
		// An interrupted flush is rolled back before anything else is
		// checked: it may have left a half-written appended node.
		if h, _, err := parseNode0(raw[:]); err == nil && h.major == majorV2 && h.flags&flagPendingWr != 0 {
			if err := f.recover(); err != nil {
				return err
			}
			if err := f.readNode("open", 0, raw[:]); err != nil {
				return err
			}
			if size, err = f.b.Size(); err != nil {
				return f.ioErr("open", -1, err)
			}
		}
	}
	if size%NodeSize != 0 {
		return f.integrity("open", -1, ErrTruncated,
			fmt.Sprintf("host file size %d is not a multiple of %d", size, NodeSize))
	}
	if _, _, err := parseNode0(raw[:]); err != nil {
		return f.integrity("open", 0, err, fmt.Sprintf("header %x", raw[:10]))
	}
	err = f.loadMeta(raw[:], path, size)
	if (errors.Is(err, ErrWrongKey) || errors.Is(err, ErrTampered)) && f.journalMatches() {
		// Node 0 or the root is damaged but the journal holds a metadata
		// node that authenticates under this key: a write of node 0 was
		// torn by a crash. Roll back to the journaled state.
		if rerr := f.replay(); rerr != nil {
			return rerr
		}
		if err := f.readNode("open", 0, raw[:]); err != nil {
			return err
		}
		if size, err = f.b.Size(); err != nil {
			return f.ioErr("open", -1, err)
		}
		f.root = &node{mht: true, logical: 0, physical: 1}
		return f.loadMeta(raw[:], path, size)
	}
	return err
}

// loadMeta authenticates node 0 (and node 1 when the file has one).
func (f *File) loadMeta(raw []byte, path string, hostSize int64) error {
	h, enc, err := parseNode0(raw)
	if err != nil {
		return f.integrity("open", 0, err, "")
	}
	if h.major == majorV2 && h.flags&flagPendingWr != 0 && f.opts.EnableRecovery {
		return f.integrity("open", 0, ErrRecoveryNeeded, "pending-write flag still set after recovery")
	}
	mkey := deriveMetadataKey(f.kdk, h.nonce)
	var plain [encMetaSize]byte
	scratch := make([]byte, 0, encMetaSize+tagSize)
	if err := openNode(mkey[:], h.mac[:], enc, plain[:], scratch); err != nil {
		return f.integrity("open", 0, ErrWrongKey,
			"check the key; if it is right, node 0 was modified")
	}
	f.hdr = h
	f.meta.unmarshal(plain[:])
	clear(plain[:])
	f.diskSize, f.lastMetaSize = f.meta.size, f.meta.size
	// Keep node 0 as it would be on disk in v2 layout: the recovery pre-image.
	h.flags = 0
	buildNode0(f.diskMeta[:], &h, enc) // always v2 layout, also for a v1 file
	if !f.opts.SkipPathCheck {
		if bound := f.meta.boundPath(); bound != path {
			return f.integrity("open", 0, ErrPathMismatch,
				fmt.Sprintf("file is bound to %q, opened as %q (it was renamed or copied on the host; open it under its bound path)", bound, path))
		}
	}
	// A consistent file always has every node its size needs; checking here
	// turns a cut-off file into one clear error (Gramine fails later, on read).
	if f.meta.size > maxPlainSize || EncryptedSize(f.meta.size) > uint64(hostSize) {
		return f.integrity("open", -1, ErrTruncated, fmt.Sprintf(
			"metadata says %d plaintext bytes, which need a %d-byte host file, but it has %d bytes",
			f.meta.size, EncryptedSize(min(f.meta.size, maxPlainSize)), hostSize))
	}
	if f.meta.size > MetaDataSize {
		if err := f.readNode("open", 1, f.root.enc[:NodeSize]); err != nil {
			return err
		}
		if err := openBuf(f.meta.rootKey[:], f.meta.rootMAC[:], &f.root.enc, f.root.plain[:]); err != nil {
			return f.integrity("open", 1, ErrTampered, "root MHT node does not match the tag in the metadata")
		}
	}
	return nil
}

// Path returns the path currently bound into the file.
func (f *File) Path() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meta.boundPath()
}

// Version returns the on-disk format major version the file was opened with
// (1 or 2); after the first flush it is always 2.
func (f *File) Version() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int(f.hdr.major)
}

// Size returns the plaintext size.
func (f *File) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(f.meta.size)
}

func (f *File) usable(op string) error {
	if f.closed {
		return &Error{Op: op, Path: f.name, Node: -1, Kind: ErrClosed}
	}
	return f.failed
}

func (f *File) writable(op string) error {
	if err := f.usable(op); err != nil {
		return err
	}
	if f.opts.ReadOnly {
		return &Error{Op: op, Path: f.name, Node: -1, Kind: ErrReadOnly}
	}
	return nil
}

// fail records a sticky failure for integrity and write errors.
func (f *File) fail(err error) error {
	if f.failed == nil {
		f.failed = err
	}
	return err
}

// ReadAt reads len(p) bytes at off. Like io.ReaderAt it returns io.EOF when
// fewer bytes are available. Bytes are returned only from nodes that
// authenticated; the first failure makes the File unusable.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &Error{Op: "read", Path: f.name, Node: -1, Detail: "negative offset"}
	}
	if err := f.drain(); err != nil {
		return 0, err
	}
	if uint64(off) >= f.meta.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := uint64(len(p))
	if left := f.meta.size - uint64(off); want > left {
		want = left
	}
	o := uint64(off)
	done := uint64(0)
	if o < MetaDataSize {
		done = uint64(copy(p[:want], f.meta.data[o:]))
		o += done
	}
	for done < want {
		// A write may have queued nodes while the lock was released.
		if err := f.drain(); err != nil {
			return int(done), err
		}
		if f.directOK() {
			if k := f.directRun(o, uint64(off)+want, false); k >= minUnlocked {
				ok := f.readUnlocked(p[done:done+uint64(k)*NodeSize], o, k)
				// The lock was released: the file may have been closed,
				// failed or shrunk meanwhile.
				if err := f.usable("read"); err != nil {
					return int(done), err
				}
				if want = min(want, f.meta.size-min(f.meta.size, uint64(off))); done >= want {
					break
				}
				if ok && o+uint64(k)*NodeSize <= uint64(off)+want {
					done += uint64(k) * NodeSize
					o += uint64(k) * NodeSize
					continue
				}
			}
			if k := f.directRun(o, uint64(off)+want, false); k > 0 {
				if i, err := f.readDirect(p[done:done+uint64(k)*NodeSize], o, k); err != nil {
					done += uint64(i) * NodeSize
					if IsIntegrity(err) || f.failed != nil {
						return int(done), f.fail(err)
					}
					return int(done), err
				}
				done += uint64(k) * NodeSize
				o += uint64(k) * NodeSize
				continue
			}
		}
		// Nodes the direct paths leave to the cache are partial ones (a
		// large READ's first and last node: plaintext offsets are shifted
		// by node 0's data) or already cached; with GramineFlushPolicy the
		// cache must evolve as Gramine's, one node at a time.
		n, err := f.dataNode(o)
		if err != nil {
			// Integrity failures are permanent; a host I/O error during a
			// read leaves the cache intact, so a retry may succeed.
			if IsIntegrity(err) || f.failed != nil {
				return int(done), f.fail(err)
			}
			return int(done), err
		}
		in := (o - MetaDataSize) % NodeSize
		c := uint64(copy(p[done:want], n.plain[in:]))
		done += c
		o += c
	}
	if done < uint64(len(p)) {
		return int(done), io.EOF
	}
	return int(done), nil
}

// WriteAt writes p at off, extending the file (with zeros in any gap).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.writeAt(p, off)
	if err != nil {
		return n, err
	}
	// The queued whole nodes are sealed and written in the background.
	if err := f.launch(); err != nil {
		return n, err
	}
	return n, nil
}

// WriteAtSplit is WriteAt for a caller that serializes its writes and wants
// the next one to start early: the whole fresh nodes of p are not copied
// but sealed from p by finish, which the caller must call (without any
// lock the File's users take) before it reuses p, and which needs no lock
// of the File. Errors of finish's host write are reported like those of a
// background batch (by the next operation, and Flush). finish is nil when
// there is nothing left to do.
func (f *File) WriteAtSplit(p []byte, off int64) (n int, finish func(), err error) {
	if _, ok := f.b.(VectorBacking); !ok {
		n, err = f.WriteAt(p, off)
		return n, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noCopy = true
	n, err = f.writeAt(p, off)
	f.noCopy = false
	if err == nil {
		finish, err = f.start()
	}
	if err != nil && f.collect != nil {
		// Nothing may keep p: seal and write what was queued now.
		if derr := f.drain(); derr != nil && err == nil {
			err = derr
		}
	}
	return n, finish, err
}

// writeAt is WriteAt's work under f.mu, up to queuing the direct nodes.
func (f *File) writeAt(p []byte, off int64) (int, error) {
	if err := f.writable("write"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &Error{Op: "write", Path: f.name, Node: -1, Detail: "negative offset"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint64(off)+uint64(len(p)) > maxPlainSize {
		return 0, &Error{Op: "write", Path: f.name, Node: -1, Detail: "file would exceed 2^62 bytes"}
	}
	if uint64(off) > f.meta.size {
		if err := f.setSize(uint64(off)); err != nil {
			return 0, err
		}
	}
	n, err := f.write(p, uint64(off), uint64(len(p)))
	return int(n), err
}

// write is Gramine's ipf_write; p == nil writes zeros.
func (f *File) write(p []byte, off, size uint64) (uint64, error) {
	left := size
	if off < MetaDataSize {
		c := min(left, MetaDataSize-off)
		if p != nil {
			copy(f.meta.data[off:off+c], p)
			p = p[c:]
		} else {
			clear(f.meta.data[off : off+c])
		}
		off += c
		left -= c
		if off > f.meta.size {
			f.meta.size = off
		}
		f.needWriting = true
	}
	for left > 0 {
		if p != nil && f.directOK() {
			if k := f.directRun(off, off+left, true); k > 0 {
				if err := f.writeDirect(p[:k*NodeSize], off, k); err != nil {
					return size - left, f.fail(err)
				}
				c := uint64(k) * NodeSize
				p = p[c:]
				off += c
				left -= c
				continue
			}
		}
		if f.collect != nil || len(f.inflight) > 0 {
			// A cache miss may read a queued node from the host (an
			// append does not read).
			_, _, _, phys := nodeNumbers(off)
			appending := (off-MetaDataSize)%NodeSize == 0 && off == f.meta.size
			if !appending && f.cache.find(phys) == nil {
				if err := f.drain(); err != nil {
					return size - left, err
				}
			}
		}
		n, err := f.dataNode(off)
		if err != nil {
			return size - left, f.fail(err)
		}
		in := (off - MetaDataSize) % NodeSize
		c := min(left, NodeSize-in)
		if p != nil {
			copy(n.plain[in:in+c], p)
			p = p[c:]
		} else {
			clear(n.plain[in : in+c])
		}
		off += c
		left -= c
		if off > f.meta.size {
			f.meta.size = off
		}
		if !n.dirty {
			n.dirty = true
			for m := n.parent; m.logical != 0; m = m.parent {
				m.dirty = true
			}
			f.root.dirty = true
			f.needWriting = true
		}
	}
	return size, nil
}

// Truncate changes the plaintext size (grow with zeros, or shrink).
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("truncate"); err != nil {
		return err
	}
	if size < 0 || size > maxPlainSize {
		return &Error{Op: "truncate", Path: f.name, Node: -1, Detail: fmt.Sprintf("size %d out of range", size)}
	}
	if err := f.drain(); err != nil {
		return err
	}
	return f.setSize(uint64(size))
}

// setSize is Gramine's pf_set_size.
func (f *File) setSize(size uint64) error {
	cur := f.meta.size
	if size == cur {
		return nil
	}
	if size > cur {
		_, err := f.write(nil, cur, size-cur)
		return err
	}
	// Shrink: flush, drop the cache, cut the host file after the last node
	// still in use. Stale MHT entries for cut nodes are harmless: a node is
	// re-created (new key) before it is used again.
	if err := f.flush(); err != nil {
		return err
	}
	f.cache.clearAll()
	f.raLen = 0
	if err := f.b.Truncate(int64(EncryptedSize(size))); err != nil {
		return f.fail(f.ioErr("truncate", -1, err))
	}
	f.meta.size = size
	f.needWriting = true
	return nil
}

// Rename rebinds the file to newPath (normalized, see NormalizePath) and
// flushes. The caller renames the host file afterwards and, if that fails,
// calls Rename with the old path again.
func (f *File) Rename(newPath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable("rename"); err != nil {
		return err
	}
	if len(newPath) > MaxPathLen {
		return &Error{Op: "rename", Path: f.name, Node: -1, Kind: ErrPathTooLong}
	}
	// Batches in flight name the file in their errors: let them end
	// before the name changes.
	if err := f.drain(); err != nil {
		return err
	}
	clear(f.meta.path[:])
	copy(f.meta.path[:], newPath)
	f.name = newPath
	f.needWriting = true
	return f.flush()
}

// Flush writes all changes to the backing and syncs it (fsync).
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable("flush"); err != nil {
		return err
	}
	if f.opts.ReadOnly {
		return nil
	}
	if err := f.flush(); err != nil {
		return err
	}
	if err := f.b.Sync(); err != nil {
		return f.ioErr("flush", -1, err)
	}
	f.diskSize = f.lastMetaSize
	return nil
}

// Close flushes (without fsync, like Gramine) and releases the cache. After a
// successful close with recovery enabled the journal is truncated to zero;
// the caller may delete it.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &Error{Op: "close", Path: f.name, Node: -1, Kind: ErrClosed}
	}
	var err error
	if derr := f.drain(); derr != nil && f.failed == nil {
		f.failed = derr
	}
	if f.failed != nil {
		err = f.failed
	} else if !f.opts.ReadOnly {
		err = f.flush()
		if err == nil && f.opts.EnableRecovery {
			if terr := f.opts.RecoveryBacking.Truncate(0); terr != nil {
				err = f.ioErr("close", -1, terr)
			}
		}
	}
	f.closed = true
	f.collect = nil
	f.releaseBatches()
	f.cache.clearAll()
	clear(f.root.plain[:])
	clear(f.meta.data[:])
	clear(f.kdk[:])
	return err
}
