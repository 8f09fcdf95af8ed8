package pffs

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/nacre-tee/nacre/internal/pf"
)

// journalRecord is the size of one recovery-journal record: the node number
// and the node's previous 4096 bytes.
const journalRecord = 8 + pf.NodeSize

// undoRename repairs a file whose rename was interrupted between rebinding
// and the host rename: the file still has its old name but is bound to the
// new one. Rename flushes the tree first, so the rebinding flush journaled
// exactly one record, the previous node 0. If that node 0 (over the current
// tree) opens under the file's current path and key, it is written back and
// the file is as it was before the rename. The host could produce this state
// anyway (it can always present an older version of a file), so accepting
// it weakens nothing.
func undoRename(hf *os.File, jr *journal, bound string, key [16]byte) bool {
	size, err := jr.Size()
	if err != nil || size != journalRecord {
		return false
	}
	rec := make([]byte, journalRecord)
	if _, err := jr.ReadAt(rec, 0); err != nil || binary.LittleEndian.Uint64(rec) != 0 {
		return false
	}
	hb, err := newHostBacking(hf)
	if err != nil {
		return false
	}
	ov := &node0Overlay{hostBacking: hb, node0: rec[8:]}
	p, err := pf.Open(ov, bound, key, pf.Options{ReadOnly: true})
	if err != nil {
		return false
	}
	// Read everything once: the whole tree must authenticate under it.
	buf := make([]byte, 1<<20)
	for off := int64(0); off < p.Size(); off += int64(len(buf)) {
		if _, err := p.ReadAt(buf, off); err != nil && err != io.EOF {
			return false
		}
	}
	_ = p.Close()
	if _, err := hf.WriteAt(rec[8:], 0); err != nil {
		return false
	}
	return hf.Sync() == nil
}

// node0Overlay reads node 0 from a saved copy and the rest from the host.
type node0Overlay struct {
	*hostBacking
	node0 []byte
}

func (o *node0Overlay) ReadAt(p []byte, off int64) (int, error) {
	if off >= pf.NodeSize {
		return o.hostBacking.ReadAt(p, off)
	}
	n := copy(p, o.node0[off:])
	if n == len(p) {
		return n, nil
	}
	m, err := o.hostBacking.ReadAt(p[n:], pf.NodeSize)
	return n + m, err
}
