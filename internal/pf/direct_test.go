package pf

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// vecBacking is a MemBacking with the VectorBacking extension, so the
// direct paths run as they do on a host file: background sealing of large
// writes and unlocked large reads. It counts vectored calls so tests can
// check that those paths ran.
type vecBacking struct {
	*MemBacking
	readv, writev atomic.Int64
}

func (v *vecBacking) ReadvAt(bufs [][]byte, off int64) (int, error) {
	v.readv.Add(1)
	total := 0
	for _, b := range bufs {
		n, err := v.ReadAt(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (v *vecBacking) WritevAt(bufs [][]byte, off int64) (int, error) {
	v.writev.Add(1)
	total := 0
	for _, b := range bufs {
		n, err := v.WriteAt(b, off+int64(total))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestDirectModel checks large, often node-aligned writes and reads (the
// direct paths), small ones, truncation, flushes and reopening against a
// plain byte slice.
func TestDirectModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vb := &vecBacking{MemBacking: NewMemBacking(nil)}
	f := create(t, vb, Options{CacheNodes: 32})
	var model []byte
	limit := 4*span1 + 50000
	for i := 0; i < 400; i++ {
		switch op := r.IntN(12); {
		case op < 5:
			off := r.IntN(limit)
			if r.IntN(2) == 0 { // node aligned
				off = MetaDataSize + (off/NodeSize)*NodeSize
			}
			if r.IntN(3) == 0 { // append
				off = len(model)
			}
			buf := randBytes(r, r.IntN(3*span1)+1)
			if _, err := f.WriteAt(buf, int64(off)); err != nil {
				t.Fatal(err)
			}
			if off+len(buf) > len(model) {
				model = append(model, make([]byte, off+len(buf)-len(model))...)
			}
			copy(model[off:], buf)
		case op < 9:
			off := r.IntN(len(model) + 10)
			buf := make([]byte, r.IntN(2*span1))
			n, err := f.ReadAt(buf, int64(off))
			want := 0
			if off < len(model) {
				want = min(len(buf), len(model)-off)
			}
			if n != want || (n < len(buf) && err != io.EOF) || (n == len(buf) && err != nil) {
				t.Fatalf("op %d: read at %d len %d: n=%d err=%v want n=%d", i, off, len(buf), n, err, want)
			}
			if n > 0 && !bytes.Equal(buf[:n], model[off:off+n]) {
				t.Fatalf("op %d: read at %d: content mismatch", i, off)
			}
		case op < 10:
			sz := r.IntN(limit)
			if err := f.Truncate(int64(sz)); err != nil {
				t.Fatal(err)
			}
			if sz < len(model) {
				model = model[:sz]
			} else {
				model = append(model, make([]byte, sz-len(model))...)
			}
		case op < 11:
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
		default:
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			checkContent(t, vb.MemBacking, model)
			f = reopen(t, vb, Options{CacheNodes: 32})
		}
		if f.Size() != int64(len(model)) {
			t.Fatalf("op %d: size %d want %d", i, f.Size(), len(model))
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, vb.MemBacking, model)
	if vb.readv.Load() == 0 || vb.writev.Load() == 0 {
		t.Fatalf("direct paths not exercised: %d vectored reads, %d vectored writes", vb.readv.Load(), vb.writev.Load())
	}
}

// TestDirectConcurrent appends large blocks while readers read large
// ranges of the part written before (run with -race).
func TestDirectConcurrent(t *testing.T) {
	vb := &vecBacking{MemBacking: NewMemBacking(nil)}
	f := create(t, vb, Options{})
	plain := pattern(4 * span1)
	base := 2 * span1
	if _, err := f.WriteAt(plain[:base], 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 3 {
		wg.Go(func() {
			buf := make([]byte, span1)
			for i := range 30 {
				off := (g*7919 + i*12345) % (base - len(buf))
				if _, err := f.ReadAt(buf, int64(off)); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf, plain[off:off+len(buf)]) {
					errs <- errors.New("concurrent read mismatch")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for off := base; off < len(plain); off += 100 * NodeSize {
			end := min(off+100*NodeSize, len(plain))
			if _, err := f.WriteAt(plain[off:end], int64(off)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, vb.MemBacking, plain)
}

// TestCrashDirect crashes (cut, torn, or losing everything not synced) at
// every write (torn writes at page granularity, see crashDisk) of changes
// that take the direct path: a large append plus a small overwrite, and
// two committed appends in a row; and a large overwrite of committed
// nodes, which must not take it. (A shrink is not crash-safe in pf alone,
// which cuts the host file at once; pffs defers the cut, and
// TestDirectNotOverDurable checks the direct path's side of it.)
func TestCrashDirect(t *testing.T) {
	oldPlain := pattern(span1 + 5000)
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	writeLikePfCrypt(t, f, oldPlain)
	f.Close()
	base := mb.Bytes()
	big := bytes.Repeat([]byte{0x5A}, 2*span1)

	type step struct {
		apply func(f *File) error
		model func(m []byte) []byte
	}
	put := func(m []byte, off int, b []byte) []byte {
		m = clone(m)
		if off+len(b) > len(m) {
			m = append(m, make([]byte, off+len(b)-len(m))...)
		}
		copy(m[off:], b)
		return m
	}
	write := func(off int, b []byte) step {
		return step{
			apply: func(f *File) error { _, err := f.WriteAt(b, int64(off)); return err },
			model: func(m []byte) []byte { return put(m, off, b) },
		}
	}
	flush := step{apply: func(f *File) error { return f.Flush() }, model: func(m []byte) []byte { return m }}
	cases := map[string][]step{
		"append":      {write(len(oldPlain), big), write(100, []byte("head")), flush},
		"two-commits": {write(len(oldPlain), big), flush, write(len(oldPlain)+len(big), big), flush},
		// Whole committed nodes: must go through the journal, not directly.
		"overwrite": {write(MetaDataSize, big[:span1]), flush},
	}
	for name, steps := range cases {
		// The versions a crash may leave: the old one and the one after
		// each step (a superset of the committed ones; what matters is
		// that the file opens to one of them, not to a mix).
		states := [][]byte{oldPlain}
		m := oldPlain
		for _, s := range steps {
			m = s.model(m)
			states = append(states, m)
		}
		run := func(d *crashDisk) (*crashBacking, *crashBacking, error) {
			main, jr := d.backing(base), d.backing(nil)
			f, err := Open(main, "dir/file.pf", key1, Options{EnableRecovery: true, RecoveryBacking: jr})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if err := s.apply(f); err != nil {
					return main, jr, err
				}
			}
			return main, jr, nil
		}
		d := &crashDisk{budget: -1}
		if _, _, err := run(d); err != nil {
			t.Fatal(err)
		}
		total := d.writes
		for k := 0; k <= total; k++ {
			for _, mode := range []string{"cut", "torn", "unsynced-lost"} {
				// A torn write of an appended node can leave a host size
				// that is no multiple of 4096 only on a filesystem that grows
				// files byte-wise; real ones grow page-aligned writes page by
				// page, and pf (like Gramine) refuses such a file.
				d := &crashDisk{budget: k, torn: mode == "torn", pageTorn: true}
				main, jr, err := run(d)
				if k < total && !errors.Is(err, errCrash) {
					t.Fatalf("%s k %d: expected crash, got %v", name, k, err)
				}
				mainBytes, jrBytes := main.Bytes(), jr.Bytes()
				if mode == "unsynced-lost" {
					mainBytes, jrBytes = main.synced, jr.synced
				}
				got, err := readAll(NewMemBacking(mainBytes), "dir/file.pf", key1,
					Options{EnableRecovery: true, RecoveryBacking: NewMemBacking(jrBytes)})
				if err != nil {
					t.Fatalf("%s: crash at write %d/%d (%s): open after crash: %v", name, k, total, mode, err)
				}
				found := false
				for _, s := range states {
					found = found || bytes.Equal(got, s)
				}
				if !found {
					t.Fatalf("%s: crash at write %d/%d (%s): content (%d bytes) is no committed version", name, k, total, mode, len(got))
				}
			}
		}
	}
}

// TestDirectNotOverDurable: nodes a node 0 that may be durable still names
// are never written directly (a crash would leave that node 0 naming
// nodes sealed under keys it does not know), only once a sync made a node
// 0 with a smaller size the only one a crash can leave.
func TestDirectNotOverDurable(t *testing.T) {
	vb := &vecBacking{MemBacking: NewMemBacking(nil)}
	f := create(t, vb, Options{})
	plain := pattern(3 * span1)
	if _, err := f.WriteAt(plain, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	small := int64(MetaDataSize + 3*NodeSize)
	refill := func() int64 {
		before := vb.writev.Load()
		if _, err := f.WriteAt(plain[small:small+span1], small); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(make([]byte, 1), 0); err != nil { // drains
			t.Fatal(err)
		}
		return vb.writev.Load() - before
	}
	if err := f.Truncate(small); err != nil {
		t.Fatal(err)
	}
	if n := refill(); n != 0 {
		t.Fatalf("%d direct writes over nodes the durable node 0 still names", n)
	}
	if err := f.Truncate(small); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := refill(); n == 0 {
		t.Fatal("no direct writes after the smaller size was synced")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, vb.MemBacking, plain[:small+span1])
}
