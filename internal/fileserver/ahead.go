package fileserver

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// Verify-ahead of programs and libraries.
//
// A dynamically linked program faults nearly all of its ELF files in at
// start, one READ at a time, and waits for each: read from the host, hash,
// reply. Hashing dominates and is serial with the app. So when the first READ
// of a trusted ELF file at offset 0 is answered, a goroutine reads and
// verifies the rest of it in 256 KiB steps (on one core, the app keeps the
// other) and pushes each verified step into the kernel's page cache with
// FUSE_NOTIFY_STORE. The app's later faults then find the pages cached, and
// the hashing overlaps the app's own start-up instead of adding to it.
//
// Only bytes that ReadAhead verified are stored, never past the verified
// size, so the page cache still holds nothing unverified. A failed
// verification stops the goroutine: nothing of that step or after it is
// stored, and the app's own READ of a bad chunk fails with EIO and logs the
// mismatch, as before. Good chunks after it are still read on demand.
const (
	// aheadMax bounds the files verified ahead whole (python3 is 7 MiB,
	// libc 2 MiB): larger programs (Go binaries, libLLVM) are more likely
	// to be used in part, and their pages would only cost memory.
	aheadMax = 16 << 20
	// aheadStep is the most read, verified and stored at a time: small
	// enough (~150 µs of hashing) that a READ the app waits for does not
	// wait long for a core.
	aheadStep = 256 << 10
)

var elfMagic = []byte("\x7fELF")

// aheadState tracks which chunks of one file are claimed: being answered
// by a READ, or verified ahead, or done. The goroutine skips claimed chunks,
// so that it neither hashes what the app's READs already cover nor waits
// for the page locks of a READ in flight.
type aheadState struct {
	claimed []atomic.Uint64 // bit per chunk

	// The step being stored: a READ of bytes in it (the app faulted on a
	// page the store has not reached) copies them instead of verifying
	// them again, and so unlocks the pages the store then waits for.
	mu     sync.Mutex
	pubOff int64
	pub    *trustedfs.Verified
}

// publish makes v (bytes at off) available to fromAhead until unpublish.
func (a *aheadState) publish(off int64, v *trustedfs.Verified) {
	a.mu.Lock()
	a.pubOff, a.pub = off, v
	a.mu.Unlock()
}

func (a *aheadState) unpublish() {
	a.mu.Lock()
	a.pub = nil
	a.mu.Unlock()
}

// fromAhead returns a copy of the verified bytes [off, min(off+n, size))
// if the step being stored holds all of them, else nil.
func (n *fileNode) fromAhead(off int64, size int, fileSize int64) *trustedfs.Verified {
	a := n.ahead.Load()
	if a == nil {
		return nil
	}
	end := min(off+int64(size), fileSize)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pub == nil || off < a.pubOff || end > a.pubOff+int64(len(a.pub.Bytes())) || off >= end {
		return nil
	}
	return a.pub.Copy(int(off-a.pubOff), int(end-off))
}

func newAheadState(size int64) *aheadState {
	chunks := (size + trustedfs.ChunkSize - 1) / trustedfs.ChunkSize
	return &aheadState{claimed: make([]atomic.Uint64, (chunks+63)/64)}
}

// claim marks the chunks of bytes [off, end).
func (a *aheadState) claim(off, end int64) {
	for c := off / trustedfs.ChunkSize; c*trustedfs.ChunkSize < end; c++ {
		if int(c/64) < len(a.claimed) {
			a.claimed[c/64].Or(1 << (c % 64))
		}
	}
}

// claimRun claims the first run of unclaimed chunks in bytes [off, end) and
// returns it, or an empty run if all are claimed.
func (a *aheadState) claimRun(off, end int64) (int64, int64) {
	first, last := int64(-1), int64(-1)
	for c := off / trustedfs.ChunkSize; c*trustedfs.ChunkSize < end && int(c/64) < len(a.claimed); c++ {
		bit := uint64(1) << (c % 64)
		if a.claimed[c/64].Or(bit)&bit != 0 {
			if first >= 0 {
				break
			}
			continue
		}
		if first < 0 {
			first = c
		}
		last = c
	}
	if first < 0 {
		return 0, 0
	}
	return first * trustedfs.ChunkSize, min((last+1)*trustedfs.ChunkSize, end)
}

// beforeTrustedRead claims the chunks a READ is about to verify, so that a
// verify-ahead of the file skips them, and returns the function to call
// when the READ is done and whether no other trusted READ is being
// answered (then the READ may hash on both cores; otherwise the other core
// is busy with that READ, and splitting would only add hand-offs: the
// kernel sends a readahead window as several READs at once).
func (n *fileNode) beforeTrustedRead(off int64, size int) (done func(), alone bool) {
	if a := n.ahead.Load(); a != nil {
		a.claim(off, off+int64(size))
	}
	return n.s.fg.enter()
}

// afterTrustedRead is called with the verified bytes of the first READ of
// a trusted file: it starts the verify-ahead when they are the start of an
// ELF file.
func (n *fileNode) afterTrustedRead(tf *trustedfs.File, off int64, data []byte) {
	if off != 0 || n.ahead.Load() != nil {
		return
	}
	size := tf.Size()
	end := off + int64(len(data))
	if !bytes.HasPrefix(data, elfMagic) || size > aheadMax || end >= size ||
		n.st.Size != size || n.s.noAhead {
		// Without the kernel's size equal to the verified one, a store
		// could make the kernel extend the file.
		return
	}
	a := newAheadState(size)
	a.claim(0, end)
	if n.ahead.CompareAndSwap(nil, a) {
		n.s.aheads.add(1)
		go n.verifyAhead(tf, a, end)
	}
}

// verifyAhead verifies [from, size) of tf in steps and stores each step in
// the kernel's page cache, skipping claimed chunks and pausing while READs
// of trusted files are being answered: those are what the app waits for,
// and they hash on both cores when alone.
func (n *fileNode) verifyAhead(tf *trustedfs.File, a *aheadState, from int64) {
	defer n.s.aheads.add(-1)
	size := tf.Size()
	for off := from; off < size; {
		n.s.fg.wait()
		if n.s.stopAhead.Load() {
			return
		}
		start, end := a.claimRun(off, min(off+aheadStep, size))
		if start == end {
			off = min(off+aheadStep, size)
			continue
		}
		v, err := tf.ReadAhead(start, int(end-start))
		if err != nil {
			// The app's READ of this range reports it, if it comes.
			n.s.log.Debug("fileserver: verify-ahead stopped", "path", n.view(), "host", n.host, "off", start, "err", err)
			return
		}
		a.publish(start, v)
		errno := n.WriteCache(start, v.Bytes())
		a.unpublish()
		if b := n.builder(tf); b != nil {
			n.s.submitCopy(copyItem{n: n, b: b, off: start, v: v})
		} else {
			v.Release()
		}
		if errno != 0 {
			n.s.log.Debug("fileserver: verify-ahead store failed", "path", n.view(), "off", start, "errno", errno)
			return
		}
		off = end
	}
}

// StopAhead stops verify-ahead and copy-ahead and waits for them to end,
// while the server still answers READs. Call it once the app has exited,
// before nacre exits: a FUSE_NOTIFY_STORE still in flight when nacre dies
// can wait forever for a page locked by a READ that only this server would
// have answered, and the kernel then leaves nacre and the sandbox's PID 1
// in uninterruptible sleep, the mount never released.
func (s *Server) StopAhead() {
	s.stopAhead.Store(true)
	s.aheads.wait()
}

// foreground counts the READs of trusted files being answered, for
// verify-ahead goroutines to wait on.
type foreground struct {
	mu      sync.Mutex
	cond    sync.Cond
	active  int
	waiters int
}

// enter counts a READ in and reports whether it is the only one; the
// returned function counts it out.
func (f *foreground) enter() (func(), bool) {
	f.mu.Lock()
	f.active++
	alone := f.active == 1
	f.mu.Unlock()
	return f.exit, alone
}

func (f *foreground) exit() {
	f.mu.Lock()
	f.active--
	if f.active == 0 && f.waiters > 0 {
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// wait returns once no READ of a trusted file is being answered.
func (f *foreground) wait() {
	f.mu.Lock()
	if f.cond.L == nil {
		f.cond.L = &f.mu
	}
	for f.active > 0 {
		f.waiters++
		f.cond.Wait()
		f.waiters--
	}
	f.mu.Unlock()
}

// aheadCount counts running verify-ahead goroutines, so that tests can wait
// for them. (A sync.WaitGroup would do, but the race detector cannot see
// that its Add in a READ handler happens before the test's Wait: the
// ordering goes through the kernel.)
type aheadCount struct {
	mu   sync.Mutex
	cond sync.Cond
	n    int
}

func (c *aheadCount) add(d int) {
	c.mu.Lock()
	c.n += d
	if c.n == 0 && c.cond.L != nil {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// wait returns once no verify-ahead goroutine runs.
func (c *aheadCount) wait() {
	c.mu.Lock()
	if c.cond.L == nil {
		c.cond.L = &c.mu
	}
	for c.n > 0 {
		c.cond.Wait()
	}
	c.mu.Unlock()
}
