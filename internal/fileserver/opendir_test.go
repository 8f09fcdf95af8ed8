package fileserver

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fakeDirFS records the directory handles the wrapper opens, reads and
// releases.
type fakeDirFS struct {
	fuse.RawFileSystem
	next     uint64
	open     map[uint64]bool // handles not yet released
	readWith []uint64        // handle of every ReadDir
}

func (f *fakeDirFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.next++
	f.open[f.next] = true
	out.Fh = f.next
	return fuse.OK
}

func (f *fakeDirFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.readWith = append(f.readWith, in.Fh)
	return fuse.OK
}

func (f *fakeDirFS) ReleaseDir(in *fuse.ReleaseIn) { delete(f.open, in.Fh) }
func (f *fakeDirFS) Forget(nodeID, nlookup uint64) {}

// TestNoOpendir: OPENDIR is refused; READDIRs of one listing share a handle;
// a new listing (offset 0) and FORGET release it; READDIRs that carry a
// handle pass through.
func TestNoOpendir(t *testing.T) {
	fake := &fakeDirFS{RawFileSystem: fuse.NewDefaultRawFileSystem(), open: map[uint64]bool{}}
	r := newNoOpendir(fake)
	if st := r.OpenDir(nil, &fuse.OpenIn{}, &fuse.OpenOut{}); st != fuse.ENOSYS {
		t.Fatalf("OpenDir = %v, want ENOSYS", st)
	}
	read := func(node, off, fh uint64) {
		t.Helper()
		in := &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Offset: off, Fh: fh}
		if st := r.ReadDir(nil, in, nil); !st.Ok() {
			t.Fatalf("ReadDir(node %d, off %d) = %v", node, off, st)
		}
	}
	read(5, 0, 0)  // listing of node 5: handle 1
	read(5, 30, 0) // same listing
	read(7, 0, 0)  // node 7: handle 2
	read(5, 0, 0)  // new listing of node 5: handle 1 released, handle 3
	r.Forget(7, 1) // handle 2 released
	read(7, 60, 0) // node 7 again without a handle: handle 4
	read(9, 0, 42) // a handle from the kernel passes through
	want := []uint64{1, 1, 2, 3, 4, 42}
	if len(fake.readWith) != len(want) {
		t.Fatalf("ReadDir handles %v, want %v", fake.readWith, want)
	}
	for i := range want {
		if fake.readWith[i] != want[i] {
			t.Fatalf("ReadDir handles %v, want %v", fake.readWith, want)
		}
	}
	if len(fake.open) != 2 || !fake.open[3] || !fake.open[4] {
		t.Errorf("open handles %v, want 3 and 4", fake.open)
	}
}
