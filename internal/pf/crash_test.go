package pf

import (
	"bytes"
	"errors"
	"testing"
)

// crashDisk is a main file plus journal that "crash" after a budget of
// writes: the write that exhausts the budget may be torn (half applied), and
// optionally everything written since each backing's last Sync is lost.
type crashDisk struct {
	budget int
	torn   bool
	writes int
	// pageTorn tears at whole nodes, as a filesystem does with a
	// page-aligned write (its size grows page by page): the half applied
	// is rounded down to a multiple of 4096.
	pageTorn bool
}

type crashBacking struct {
	*MemBacking
	d      *crashDisk
	synced []byte
}

var errCrash = errors.New("simulated crash")

func (d *crashDisk) backing(init []byte) *crashBacking {
	return &crashBacking{MemBacking: NewMemBacking(init), d: d, synced: clone(init)}
}

func (b *crashBacking) WriteAt(p []byte, off int64) (int, error) {
	if b.d.budget >= 0 && b.d.writes >= b.d.budget {
		if b.d.writes == b.d.budget && b.d.torn {
			n := len(p) / 2
			if b.d.pageTorn {
				n = n / NodeSize * NodeSize
			}
			b.MemBacking.WriteAt(p[:n], off)
		}
		b.d.writes++
		return 0, errCrash
	}
	b.d.writes++
	return b.MemBacking.WriteAt(p, off)
}

func (b *crashBacking) Truncate(n int64) error {
	if b.d.budget >= 0 && b.d.writes > b.d.budget {
		return errCrash
	}
	return b.MemBacking.Truncate(n)
}

func (b *crashBacking) Sync() error {
	if b.d.budget >= 0 && b.d.writes > b.d.budget {
		return errCrash
	}
	b.synced = b.Bytes()
	return nil
}

// TestCrashAtEveryWrite: with recovery enabled, a crash at any write of a
// flush (clean cut, torn write, or loss of everything not yet synced) leaves
// a file that opens to exactly the old or exactly the new content.
func TestCrashAtEveryWrite(t *testing.T) {
	for _, size := range []int{2000, 12345, span1 + 5000} {
		oldPlain := pattern(size)
		mb := NewMemBacking(nil)
		f := create(t, mb, Options{})
		writeLikePfCrypt(t, f, oldPlain)
		f.Close()
		base := mb.Bytes()

		change := func(f *File) error {
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xAA}, 5000), int64(size/3)); err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte("tail"), int64(size+100)); err != nil {
				return err
			}
			return f.Flush()
		}
		newPlain := clone(oldPlain)
		put := func(off int, b []byte) {
			if off+len(b) > len(newPlain) {
				newPlain = append(newPlain, make([]byte, off+len(b)-len(newPlain))...)
			}
			copy(newPlain[off:], b)
		}
		put(size/3, bytes.Repeat([]byte{0xAA}, 5000))
		put(size+100, []byte("tail"))

		// Count the writes of an uninterrupted flush.
		d := &crashDisk{budget: -1}
		f, err := Open(d.backing(base), "dir/file.pf", key1, Options{EnableRecovery: true, RecoveryBacking: d.backing(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if err := change(f); err != nil {
			t.Fatal(err)
		}
		total := d.writes
		if total < 3 {
			t.Fatalf("only %d writes", total)
		}
		for k := 0; k <= total; k++ {
			for _, mode := range []string{"cut", "torn", "unsynced-lost"} {
				d := &crashDisk{budget: k, torn: mode == "torn"}
				main, jr := d.backing(base), d.backing(nil)
				f, err := Open(main, "dir/file.pf", key1, Options{EnableRecovery: true, RecoveryBacking: jr})
				if err != nil {
					t.Fatal(err)
				}
				cerr := change(f)
				if k < total && !errors.Is(cerr, errCrash) {
					t.Fatalf("size %d k %d: expected crash, got %v", size, k, cerr)
				}
				mainBytes, jrBytes := main.Bytes(), jr.Bytes()
				if mode == "unsynced-lost" {
					mainBytes, jrBytes = main.synced, jr.synced
				}
				got, err := readAll(NewMemBacking(mainBytes), "dir/file.pf", key1,
					Options{EnableRecovery: true, RecoveryBacking: NewMemBacking(jrBytes)})
				if err != nil {
					t.Fatalf("size %d crash at write %d/%d (%s): open after crash: %v", size, k, total, mode, err)
				}
				if !bytes.Equal(got, oldPlain) && !bytes.Equal(got, newPlain) {
					t.Fatalf("size %d crash at write %d/%d (%s): content is neither old nor new", size, k, total, mode)
				}
			}
		}
	}
}
