package manifest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"strings"
	"sync"
	"unsafe"

	"github.com/pelletier/go-toml/v2"
)

// A signed manifest of 7,900 trusted files is 99% one array, written by
// nacre sign (marshal.go) one entry per line:
//
//	sgx.trusted_files = [
//	  { sha256 = "<64 lowercase hex>", uri = "file:..." },
//	]
//
// go-toml decodes it into a map per entry (~10 ms of nacre run's start, and
// megabytes of fresh heap with the collector off). parseFast reads exactly
// that form by hand and lets go-toml parse everything else; any byte outside
// it (another layout, escapes, non-ASCII, a directory, an entry the generic
// rules would reject, a uri listed twice with different hashes) makes Parse
// use go-toml for the whole document instead, so the tree, the typed view
// and every error are those of the generic path (FuzzParseFast).

const (
	fastHead     = "sgx.trusted_files = [\n"
	fastEntryPre = "  { sha256 = \""
	fastEntryMid = "\", uri = \""
	fastEntryEnd = "\" },"
	fastTail     = "]\n"
)

// fastParse is parseFast; a variable so that tests can compare it with the
// generic path.
var fastParse = parseFast

// parseFast is Parse's decoding step for a document holding the canonical
// trusted-files block; ok is false when the generic path must decode data.
// lines are the document's key positions, as newPositions(data) gives them.
// With owned (ParseOwned), the entries' strings share data instead of a copy
// of the block.
func parseFast(data []byte, owned bool) (tree map[string]any, lines *positions, ok bool) {
	start := 0
	if !bytes.HasPrefix(data, []byte(fastHead)) {
		i := bytes.Index(data, []byte("\n"+fastHead))
		if i < 0 {
			return nil, nil, false
		}
		start = i + 1
	}
	files, table, block, end, ok := scanTrustedBlock(data, start, owned)
	if !ok {
		return nil, nil, false
	}
	// The rest of the document, with the block replaced by a string of 128
	// random bits: if go-toml then finds that string at sgx.trusted_files,
	// the block's lines were that key's value at the top level (not inside
	// a multi-line string or under a [table] header), and as a string, no
	// later line can have extended it. Otherwise: generic path.
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, nil, false
	}
	mark := hex.EncodeToString(nonce[:])
	rest := make([]byte, 0, start+len(data)-end+64)
	rest = append(rest, data[:start]...)
	rest = append(rest, "sgx.trusted_files = \""+mark+"\"\n"...)
	rest = append(rest, data[end:]...)
	tree = map[string]any{}
	if err := toml.Unmarshal(rest, &tree); err != nil {
		return nil, nil, false
	}
	sgx, _ := tree["sgx"].(map[string]any)
	if s, _ := sgx["trusted_files"].(string); sgx == nil || s != mark {
		return nil, nil, false
	}
	sgx["trusted_files"] = &lazyTrusted{files: files, table: table}
	head := start + len(fastHead)
	lines = newPositionsOf(string(data[:head]), block, string(data[end-len(fastTail):]))
	return tree, lines, true
}

// scanTrustedBlock reads the block starting at data[start:] (its first line
// is fastHead) and returns its entries, their table by host path (nil when
// some uri is not a clean absolute path), its entry lines (which the
// entries' strings share: a copy, or data itself when owned), and the
// offset after its last line.
func scanTrustedBlock(data []byte, start int, owned bool) (files []TrustedFile, table *pathTable, lines string, end int, ok bool) {
	body := data[start+len(fastHead):]
	stop := bytes.Index(body, []byte("\n"+fastTail))
	if stop < 0 {
		return nil, nil, "", 0, false
	}
	// The entry lines, each ending in "\n". Copying them (~1 MB of fresh
	// heap for 7,900 entries) was ~1 ms of nacre run's start-up, mostly page
	// faults; a caller that hands data over (ParseOwned) never changes it.
	var block string
	if owned {
		block = unsafe.String(&body[0], stop+1)
	} else {
		block = string(body[:stop+1])
	}
	end = start + len(fastHead) + stop + 1 + len(fastTail)
	files = make([]TrustedFile, 0, strings.Count(block, "\n"))
	for rest := block; len(rest) > 0; {
		line, after, found := strings.Cut(rest, "\n")
		if !found {
			return nil, nil, "", 0, false
		}
		tf, ok := fastEntry(line)
		if !ok {
			return nil, nil, "", 0, false
		}
		files = append(files, tf)
		rest = after
	}
	if len(files) == 0 {
		return nil, nil, "", 0, false
	}
	table, conflict := newPathTable(files)
	if conflict {
		return nil, nil, "", 0, false
	}
	if !table.clean {
		table = nil
	}
	return files, table, block, end, true
}

// fastEntry parses one entry line (without its "\n") of the canonical form; it accepts only
// entries that trustedEntryFast would accept after go-toml decoded them.
func fastEntry(line string) (TrustedFile, bool) {
	rest, ok := strings.CutPrefix(line, fastEntryPre)
	if !ok || len(rest) < 64 {
		return TrustedFile{}, false
	}
	sum := rest[:64]
	rest, ok = strings.CutPrefix(rest[64:], fastEntryMid)
	if !ok {
		return TrustedFile{}, false
	}
	uri, ok := strings.CutSuffix(rest, fastEntryEnd)
	if !ok {
		return TrustedFile{}, false
	}
	// One table lookup per byte: these loops see ~1 MB per run.
	hex, printable := byte(classHex), byte(classURI)
	for i := range len(sum) {
		hex &= fastClass[sum[i]]
	}
	for i := range len(uri) {
		printable &= fastClass[uri[i]]
	}
	if hex == 0 || printable == 0 {
		return TrustedFile{}, false
	}
	if p, ok := uriPath(uri); !ok || p == "" || strings.HasSuffix(uri, "/") {
		return TrustedFile{}, false
	}
	return TrustedFile{URI: uri, SHA256: sum}, true
}

// fastClass classifies bytes for fastEntry: classHex for lowercase hex
// digits, classURI for printable ASCII other than '"' and '\' (a TOML basic
// string of these bytes is the bytes themselves).
var fastClass = func() (t [256]byte) {
	for c := range 256 {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			t[c] |= classURI
		}
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' {
			t[c] |= classHex
		}
	}
	return t
}()

const (
	classHex = 1 << 0
	classURI = 1 << 1
)

// pathTable finds a fast-parsed trusted file by its host path: open
// addressing over indices into the entries, hashed by the path after
// "file:" (every fast-parsed uri has that prefix). Parsing builds it anyway,
// to find a uri listed twice with different hashes (an error the generic
// path words; equal duplicates are accepted there too): a
// map[string]string of 7,900 entries cost ~1 ms there, and nacre run's
// trusted set, a map by host path of 7,900 entries built from the parsed
// list, another ~1.4 ms on its start-up's critical path (Manifest.TrustedSum
// replaces it).
type pathTable struct {
	seed  maphash.Seed
	slots []int32 // index+1 into the entries; 0 is empty
	n     int     // distinct paths
	clean bool    // every path is absolute and clean: HostPath(uri) is the path itself
}

// newPathTable builds the table of files and reports a uri listed twice
// with different hashes.
func newPathTable(files []TrustedFile) (t *pathTable, conflict bool) {
	size := 1
	for size < 2*len(files) {
		size <<= 1
	}
	t = &pathTable{seed: maphash.MakeSeed(), slots: make([]int32, size), clean: true}
	mask := uint64(size - 1)
	for i, tf := range files {
		p := tf.URI[len("file:"):]
		if t.clean && !isCleanAbs(p) {
			t.clean = false
		}
		for h := maphash.String(t.seed, p) & mask; ; h = (h + 1) & mask {
			j := t.slots[h]
			if j == 0 {
				t.slots[h] = int32(i + 1)
				t.n++
				break
			}
			if prev := files[j-1]; prev.URI == tf.URI {
				if prev.SHA256 != tf.SHA256 {
					return nil, true
				}
				break
			}
		}
	}
	return t, false
}

// find returns the index in files of the entry with host path p. An entry is
// returned only if its uri is exactly "file:"+p, whatever files holds now.
func (t *pathTable) find(files []TrustedFile, p string) (int, bool) {
	mask := uint64(len(t.slots) - 1)
	for h := maphash.String(t.seed, p) & mask; ; h = (h + 1) & mask {
		j := int(t.slots[h]) - 1
		if j < 0 {
			return 0, false // the table is at most half full: an empty slot ends every probe
		}
		if j < len(files) {
			if u := files[j].URI; len(u) == len("file:")+len(p) && u[len("file:"):] == p && strings.HasPrefix(u, "file:") {
				return j, true
			}
		}
	}
}

// lazyTrusted stands in the tree for a fast-parsed sgx.trusted_files until
// someone looks at the tree itself (Tree, Marshal): nacre run never does,
// and building a map per entry is most of what the fast path saves.
type lazyTrusted struct {
	files []TrustedFile
	table *pathTable // nil unless every path is clean and absolute
}

// materializeMu serializes materialize: Tree was safe to call from several
// goroutines when it only read.
var materializeMu sync.Mutex

// materialize replaces a lazyTrusted in the tree with the value go-toml
// would have decoded: one { sha256, uri } table per entry.
func (m *Manifest) materialize() {
	materializeMu.Lock()
	defer materializeMu.Unlock()
	sgx, _ := m.tree["sgx"].(map[string]any)
	lt, ok := sgx["trusted_files"].(*lazyTrusted)
	if !ok {
		return
	}
	list := make([]any, len(lt.files))
	for i, tf := range lt.files {
		list[i] = map[string]any{"sha256": tf.SHA256, "uri": tf.URI}
	}
	sgx["trusted_files"] = list
}

// Has reports whether the manifest sets the key given by its parts
// explicitly, without materializing the tree.
func (m *Manifest) Has(keys ...string) bool {
	var cur any = m.tree
	for _, k := range keys {
		t, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = t[k]; !ok {
			return false
		}
	}
	return true
}
