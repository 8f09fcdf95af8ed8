package pf

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func create(t testing.TB, b Backing, opts Options) *File {
	t.Helper()
	f, err := Create(b, "dir/file.pf", key1, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func reopen(t testing.TB, b Backing, opts Options) *File {
	t.Helper()
	f, err := Open(b, "dir/file.pf", key1, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func checkContent(t testing.TB, b Backing, want []byte) {
	t.Helper()
	got, err := readAll(b, "dir/file.pf", key1, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("content mismatch: len %d want %d", len(got), len(want))
	}
	sz, _ := b.Size()
	if uint64(sz) != EncryptedSize(uint64(len(want))) {
		t.Fatalf("host size %d, want %d", sz, EncryptedSize(uint64(len(want))))
	}
}

const (
	span1 = MetaDataSize + 96*NodeSize // plaintext covered by metadata + MHT 0
	// first byte under MHT node 33, the first grandchild of the root
	level3 = MetaDataSize + 33*96*NodeSize
)

func TestRoundTripSizes(t *testing.T) {
	sizes := []int{0, 1, 3071, 3072, 3073, 4095, 4096, 4097, 3072 + 4096, 3072 + 4097,
		span1 - 1, span1, span1 + 1, 2*span1 + 5}
	if !testing.Short() {
		sizes = append(sizes, level3-1, level3+1)
	}
	for _, n := range sizes {
		plain := pattern(n)
		for _, gram := range []bool{false, true} {
			mb := NewMemBacking(nil)
			f := create(t, mb, Options{GramineFlushPolicy: gram})
			writeLikePfCrypt(t, f, plain)
			if f.Size() != int64(n) {
				t.Fatalf("size %d: Size()=%d", n, f.Size())
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			checkContent(t, mb, plain)
		}
	}
}

func TestNodeNumbering(t *testing.T) {
	for _, c := range []struct{ off, m, d, pm, pd uint64 }{
		{3072, 0, 0, 1, 2},
		{3072 + 95*4096, 0, 95, 1, 97},
		{3072 + 96*4096, 1, 96, 98, 99},
		{3072 + 191*4096 + 4095, 1, 191, 98, 194},
		{3072 + 192*4096, 2, 192, 195, 196},
		{level3, 33, 3168, 1 + 33*97, 3168 + 2 + 33},
		// Terabyte offsets: 64-bit arithmetic, no overflow.
		{3072 + (1<<40)*4096/4096*1, (1 << 40) / 4096 / 96, (1 << 40) / 4096, 0, 0},
	} {
		m, d, pm, pd := nodeNumbers(c.off)
		if m != c.m || d != c.d || (c.pm != 0 && (pm != c.pm || pd != c.pd)) {
			t.Errorf("off %d: got m=%d d=%d pm=%d pd=%d", c.off, m, d, pm, pd)
		}
		if pm != mhtPhysical(m) || pd != d+2+m {
			t.Errorf("off %d: inconsistent physical numbers", c.off)
		}
	}
	// 4 TiB file: host size and last node fit in int64.
	const tb4 = 4 << 40
	if es := EncryptedSize(tb4); es <= tb4 || es > tb4+tb4/90 || es%NodeSize != 0 {
		t.Errorf("EncryptedSize(4TiB)=%d", es)
	}
}

// TestRandomAccessModel checks random WriteAt/ReadAt/Truncate against a
// plain byte slice, reopening now and then.
func TestRandomAccessModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, opts := range []Options{{CacheNodes: 3}, {GramineFlushPolicy: true}, {}} {
		mb := NewMemBacking(nil)
		f := create(t, mb, opts)
		var model []byte
		for i := 0; i < 300; i++ {
			switch op := r.IntN(10); {
			case op < 6:
				off := r.IntN(span1 + 20000)
				n := r.IntN(9000) + 1
				buf := make([]byte, n)
				for j := range buf {
					buf[j] = byte(r.Uint32())
				}
				if _, err := f.WriteAt(buf, int64(off)); err != nil {
					t.Fatal(err)
				}
				if off+n > len(model) {
					model = append(model, make([]byte, off+n-len(model))...)
				}
				copy(model[off:], buf)
			case op < 8:
				off := r.IntN(len(model) + 10)
				buf := make([]byte, r.IntN(10000))
				n, err := f.ReadAt(buf, int64(off))
				want := 0
				if off < len(model) {
					want = min(len(buf), len(model)-off)
				}
				if n != want || (n < len(buf) && err != io.EOF) || (n == len(buf) && err != nil) {
					t.Fatalf("read at %d len %d: n=%d err=%v want n=%d", off, len(buf), n, err, want)
				}
				if n > 0 && !bytes.Equal(buf[:n], model[off:off+n]) {
					t.Fatalf("read at %d: content mismatch", off)
				}
			case op < 9:
				sz := r.IntN(span1 + 30000)
				if err := f.Truncate(int64(sz)); err != nil {
					t.Fatal(err)
				}
				if sz < len(model) {
					model = model[:sz]
				} else {
					model = append(model, make([]byte, sz-len(model))...)
				}
			default:
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				checkContent(t, mb, model)
				f = reopen(t, mb, opts)
			}
			if f.Size() != int64(len(model)) {
				t.Fatalf("size %d want %d", f.Size(), len(model))
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		checkContent(t, mb, model)
	}
}

func TestTruncateShrinkGrow(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	plain := pattern(span1 + 10000)
	writeLikePfCrypt(t, f, plain)
	for _, sz := range []int{span1 + 1, 5000, 3072, 100, 0, 9000} {
		if err := f.Truncate(int64(sz)); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, sz)
		copy(want, plain[:min(sz, len(plain))])
		if sz == 9000 { // grown from 0: zeros
			want = make([]byte, 9000)
		}
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		checkContent(t, mb, want)
		plain = want
	}
	f.Close()
}

func TestRenameRebinds(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	writeLikePfCrypt(t, f, pattern(10000))
	if err := f.Rename("other/name.pf"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(mb, "dir/file.pf", key1, Options{}); !errors.Is(err, ErrPathMismatch) {
		t.Fatalf("old path: %v", err)
	}
	got, err := readAll(mb, "other/name.pf", key1, Options{})
	if err != nil || !bytes.Equal(got, pattern(10000)) {
		t.Fatal(err)
	}
}

// TestV1ReadAndUpgrade builds a v1 file (same bytes, header without the
// flags byte) and checks it reads, then becomes v2 on the first write.
func TestV1ReadAndUpgrade(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	writeLikePfCrypt(t, f, pattern(12345))
	f.Close()
	raw := mb.Bytes()
	v1 := clone(raw)
	v1[8] = majorV1
	copy(v1[v1EncOffset:v1EncOffset+encMetaSize], raw[v2EncOffset:v2EncOffset+encMetaSize])
	clear(v1[v1EncOffset+encMetaSize : NodeSize])
	b1 := NewMemBacking(v1)
	checkContent(t, b1, pattern(12345))
	f = reopen(t, b1, Options{})
	if f.Version() != 1 {
		t.Fatalf("version %d", f.Version())
	}
	if _, err := f.WriteAt([]byte("v2 now"), 10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b := b1.Bytes(); b[8] != majorV2 {
		t.Fatalf("not rewritten as v2: major %d", b[8])
	}
	want := pattern(12345)
	copy(want[10:], "v2 now")
	checkContent(t, b1, want)
}

func TestErrorsAreTyped(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	writeLikePfCrypt(t, f, pattern(20000))
	f.Close()
	raw := mb.Bytes()
	raw[3*NodeSize+7] ^= 1 // data node 1
	f = reopen(t, NewMemBacking(raw), Options{})
	buf := make([]byte, 20000)
	n, err := f.ReadAt(buf, 0)
	var pe *Error
	if !errors.As(err, &pe) || pe.Node != 3 || !errors.Is(err, ErrTampered) || pe.Op != "read" {
		t.Fatalf("got %v", err)
	}
	if n != MetaDataSize+NodeSize {
		t.Fatalf("returned %d bytes, want only the authenticated %d", n, MetaDataSize+NodeSize)
	}
	if bytes.ContainsFunc(buf[n:], func(r rune) bool { return r != 0 }) {
		t.Fatal("bytes beyond the failed node were written")
	}
	// Sticky: later reads of good nodes fail too.
	if _, err := f.ReadAt(buf[:10], 0); !errors.Is(err, ErrTampered) {
		t.Fatalf("not sticky: %v", err)
	}
	if _, err := f.WriteAt([]byte{1}, 0); err == nil {
		t.Fatal("write after corruption succeeded")
	}
	if _, err := Open(NewMemBacking(raw), "x", key1, Options{ReadOnly: true}); !errors.Is(err, ErrPathMismatch) {
		t.Fatal(err)
	}
	long := string(bytes.Repeat([]byte{'a'}, MaxPathLen+1))
	if _, err := Create(NewMemBacking(nil), long, key1, Options{}); !errors.Is(err, ErrPathTooLong) {
		t.Fatal(err)
	}
	ro := reopen(t, mb, Options{ReadOnly: true})
	if _, err := ro.WriteAt([]byte{1}, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	ro.Close()
	if _, err := ro.ReadAt(buf, 0); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

// TestTamperEveryByte flips every byte of a 4-node file: each flip must be
// detected unless the byte is one the format leaves unauthenticated (minor
// version, feature flags, node-0 padding) and the content is unchanged.
func TestTamperEveryByte(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{})
	plain := pattern(3072 + 2*4096)
	writeLikePfCrypt(t, f, plain)
	f.Close()
	raw := mb.Bytes()
	unauth := func(i int) bool { return i == 9 || i == metaFlagsOff || (i >= v2EncOffset+encMetaSize && i < NodeSize) }
	for i := range raw {
		d := clone(raw)
		d[i] ^= 0x5a
		got, err := readAll(NewMemBacking(d), "dir/file.pf", key1, Options{ReadOnly: true})
		if err == nil {
			if !unauth(i) || !bytes.Equal(got, plain) {
				t.Fatalf("flip at %d not detected", i)
			}
			continue
		}
		if !IsIntegrity(err) {
			t.Fatalf("flip at %d: non-integrity error %v", i, err)
		}
	}
	for n := 0; n < len(raw); n++ {
		if _, err := readAll(NewMemBacking(raw[:n]), "dir/file.pf", key1, Options{ReadOnly: true}); !errors.Is(err, ErrTampered) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
}

// TestTamperVariantsDetected runs our own tamper generator plus node swaps,
// swaps between files, rollback of one node and a wrong path.
func TestTamperVariantsDetected(t *testing.T) {
	build := func(seed uint64, n int) []byte {
		mb := NewMemBacking(nil)
		f := create(t, mb, Options{Rand: &detRand{seed: seed}})
		plain := pattern(n)
		if n > 0 {
			plain[0] = byte(seed)
		}
		writeLikePfCrypt(t, f, plain)
		f.Close()
		return mb.Bytes()
	}
	for _, size := range []int{0, 100, 12345, span1 + 5000} {
		raw := build(1, size)
		vs, err := TamperVariants(raw, key1, "dir/file.pf")
		if err != nil {
			t.Fatal(err)
		}
		other := build(2, size) // same key and path, other content
		nodes := len(raw) / NodeSize
		// Node 0, the root, the first data nodes, the second MHT node and the
		// last nodes: every kind of node, without a quadratic blow-up.
		var pick []int
		for _, i := range []int{0, 1, 2, 3, 97, 98, 99, nodes - 2, nodes - 1} {
			if i >= 0 && i < nodes && (len(pick) == 0 || i > pick[len(pick)-1]) {
				pick = append(pick, i)
			}
		}
		for a, i := range pick {
			d := clone(raw)
			copy(d[i*NodeSize:], other[i*NodeSize:(i+1)*NodeSize])
			vs = append(vs, Variant{Name: "swap_file_node", Data: d})
			for _, j := range pick[a+1:] {
				d := clone(raw)
				swap(d, i*NodeSize, j*NodeSize, NodeSize)
				vs = append(vs, Variant{Name: "swap_nodes", Data: d})
			}
		}
		// Rollback: an older version of one node.
		mb := NewMemBacking(raw)
		f := reopen(t, mb, Options{})
		if _, err := f.WriteAt([]byte("newer"), int64(size/2)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		newer := mb.Bytes()
		for i := 0; i < nodes; i++ {
			if !bytes.Equal(raw[i*NodeSize:(i+1)*NodeSize], newer[i*NodeSize:(i+1)*NodeSize]) {
				d := clone(newer)
				copy(d[i*NodeSize:], raw[i*NodeSize:(i+1)*NodeSize])
				vs = append(vs, Variant{Name: "rollback_node", Data: d})
			}
		}
		for _, v := range vs {
			if bytes.Equal(v.Data, raw) || bytes.Equal(v.Data, other) {
				continue // e.g. swapping two identical nodes
			}
			if _, err := readAll(NewMemBacking(v.Data), "dir/file.pf", key1, Options{ReadOnly: true}); err == nil {
				t.Errorf("size %d: variant %s (%s) not detected", size, v.Name, v.What)
			}
		}
		if _, err := readAll(NewMemBacking(raw), "dir/other.pf", key1, Options{}); !errors.Is(err, ErrPathMismatch) {
			t.Errorf("wrong path: %v", err)
		}
	}
}

func TestFileBacking(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.pf")
	fh, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f := create(t, FileBacking{fh}, Options{})
	writeLikePfCrypt(t, f, pattern(50000))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkContent(t, FileBacking{fh}, pattern(50000))
}

// TestConcurrentAccess runs readers and a writer in parallel (run with -race).
func TestConcurrentAccess(t *testing.T) {
	mb := NewMemBacking(nil)
	f := create(t, mb, Options{CacheNodes: 16})
	plain := pattern(span1)
	writeLikePfCrypt(t, f, plain)
	done := make(chan error, 4)
	for g := 0; g < 3; g++ {
		go func(g int) {
			buf := make([]byte, 5000)
			for i := 0; i < 50; i++ {
				off := (g*7919 + i*12345) % (span1 - 5000)
				if _, err := f.ReadAt(buf, int64(off)); err != nil {
					done <- err
					return
				}
				if !bytes.Equal(buf, plain[off:off+5000]) {
					done <- errors.New("concurrent read mismatch")
					return
				}
			}
			done <- nil
		}(g)
	}
	go func() {
		for i := 0; i < 50; i++ {
			if _, err := f.WriteAt([]byte("appended"), int64(span1+i*8)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
