package manifest

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions holds a document's key lines, computed on the first call of get.
// Only error messages need them, and a second full parse of the document
// cost about a third of Parse (15 ms of nacre run's start for a manifest of
// 7,900 trusted files), so a valid manifest never pays for them. The lines
// are those of the bytes given to Parse, as when they were computed eagerly.
type positions struct {
	once  sync.Once
	src   []string // the document in pieces (private copies); nil once lines is built
	lines map[string]int
}

// newPositions keeps a copy of data, so that a caller reusing its buffer
// cannot change the lines reported later.
func newPositions(data []byte) *positions {
	return &positions{src: []string{string(data)}}
}

// newPositionsOf is newPositions for a document given as the concatenation
// of pieces (Parse's fast path already holds most of it as a string).
func newPositionsOf(pieces ...string) *positions {
	return &positions{src: pieces}
}

// get returns the key lines (see keyLines); nil p has none.
func (p *positions) get() map[string]int {
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		p.lines = keyLines([]byte(strings.Join(p.src, "")))
		p.src = nil
	})
	return p.lines
}

// keyLines maps every dotted key of a TOML document (see keyPath) to the
// 1-based line where it is written. go-toml's unstable parser is used only
// for positions; values come from toml.Unmarshal, which also rejects
// duplicate keys.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	lt := newLineTable(data)
	prefix := ""
	arrayCount := map[string]int{} // array-of-tables key -> elements seen
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			// Table headers are absolute; an enclosing array of tables
			// contributes its current element index.
			path := ""
			it := e.Key()
			for it.Next() {
				k := it.Node()
				path = keyPath(path, string(k.Data))
				if n, ok := arrayCount[path]; ok && !(e.Kind == unstable.ArrayTable && it.IsLast()) {
					path += "[" + strconv.Itoa(n-1) + "]"
				}
				setLine(lines, lt, path, k.Raw)
			}
			if e.Kind == unstable.ArrayTable {
				n := arrayCount[path]
				arrayCount[path] = n + 1
				path += "[" + strconv.Itoa(n) + "]"
				setLine(lines, lt, path, e.Child().Raw)
			}
			prefix = path
		case unstable.KeyValue:
			keyValueLines(lines, lt, prefix, e)
		}
	}
	return lines
}

func keyValueLines(lines map[string]int, lt lineTable, prefix string, e *unstable.Node) {
	path := prefix
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = keyPath(path, string(k.Data))
		setLine(lines, lt, path, k.Raw)
	}
	valueLines(lines, lt, path, e.Value())
}

func valueLines(lines map[string]int, lt lineTable, path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				keyValueLines(lines, lt, path, c)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			i++
			if c.Raw.Length > 0 {
				setLine(lines, lt, elem, c.Raw)
			} else if first := c.Child(); first != nil && first.Kind == unstable.KeyValue {
				if k := first.Key(); k.Next() {
					setLine(lines, lt, elem, k.Node().Raw)
				}
			}
			valueLines(lines, lt, elem, c)
		}
	}
}

func setLine(lines map[string]int, lt lineTable, path string, r unstable.Range) {
	if _, ok := lines[path]; ok {
		return
	}
	if r.Length == 0 && r.Offset == 0 {
		return
	}
	lines[path] = lt.line(int(r.Offset))
}

// lineTable holds the offset of every line start, so that a key's line is a
// binary search. (The parser's Shape scans from the start of the document on
// every call: quadratic, seconds for a manifest of thousands of files.)
type lineTable []int

func newLineTable(data []byte) lineTable {
	lt := lineTable{0}
	for off := 0; ; {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return lt
		}
		off += i + 1
		lt = append(lt, off)
	}
}

// line returns the 1-based line of byte offset off.
func (lt lineTable) line(off int) int {
	return sort.Search(len(lt), func(i int) bool { return lt[i] > off })
}

// keyPath appends one key part to a dotted key, quoting parts that are not
// bare TOML keys so that the result is unambiguous.
func keyPath(prefix, part string) string {
	q := part
	if !isBareKey(part) {
		q = quoteString(part)
	}
	if prefix == "" {
		return q
	}
	return prefix + "." + q
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
