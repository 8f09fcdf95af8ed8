package manifest

import (
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// parseBoth parses data with and without parseFast and fails the test if
// the results differ in anything a caller can see: the error, the typed
// view, the tree and the key lines.
func parseBoth(t *testing.T, data []byte) (m *Manifest, usedFast bool) {
	t.Helper()
	_, _, usedFast = parseFast(data, false)
	fast, errFast := Parse("fp", data)
	fastParse = func([]byte, bool) (map[string]any, *positions, bool) { return nil, nil, false }
	slow, errSlow := Parse("fp", data)
	fastParse = parseFast
	if fmt.Sprint(errFast) != fmt.Sprint(errSlow) {
		t.Fatalf("errors differ:\nfast:    %v\ngeneric: %v\n%s", errFast, errSlow, data)
	}
	owned, errOwned := ParseOwned("fp", slices.Clone(data))
	if fmt.Sprint(errOwned) != fmt.Sprint(errFast) || errOwned == nil && !slices.Equal(owned.TrustedFiles, fast.TrustedFiles) {
		t.Fatalf("ParseOwned differs from Parse: %v vs %v\n%s", errOwned, errFast, data)
	}
	if errFast != nil {
		return nil, usedFast
	}
	if !slices.Equal(fast.TrustedFiles, slow.TrustedFiles) {
		t.Fatalf("trusted files differ:\nfast:    %v\ngeneric: %v", fast.TrustedFiles, slow.TrustedFiles)
	}
	if !maps.Equal(fast.lines.get(), slow.lines.get()) {
		t.Fatalf("key lines differ:\nfast:    %v\ngeneric: %v", fast.lines.get(), slow.lines.get())
	}
	if !sameValue(fast.Tree(), slow.Tree()) {
		t.Fatalf("trees differ:\n%s", data)
	}
	checkTrustedSums(t, fast)
	fast.lines, slow.lines = nil, nil
	table := fast.trustedTable
	fast.trustedTable = nil // the generic path builds none
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("typed views differ:\nfast:    %+v\ngeneric: %+v", fast, slow)
	}
	fast.trustedTable = table
	return fast, usedFast
}

const fpSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func fpEntry(uri, sum string) string {
	return "  { sha256 = \"" + sum + "\", uri = \"" + uri + "\" },\n"
}

func TestParseFastCanonical(t *testing.T) {
	doc := "libos.entrypoint = \"/a\"\nloader.env.X = \"1\"\nsgx.trusted_files = [\n" +
		fpEntry("file:/b", fpSum) + fpEntry("file:/a", strings.Repeat("9", 64)) + fpEntry("file:/b", fpSum) +
		"]\nsys.fds.limit = 10\n"
	m, fast := parseBoth(t, []byte(doc))
	if !fast {
		t.Fatal("the canonical form took the generic path")
	}
	if len(m.TrustedFiles) != 3 || m.TrustedFiles[1] != (TrustedFile{URI: "file:/a", SHA256: strings.Repeat("9", 64)}) {
		t.Fatalf("trusted files: %v", m.TrustedFiles)
	}

	// Signed output of Marshal takes the fast path and round-trips.
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, fast := parseBoth(t, out); !fast {
		t.Errorf("Marshal output took the generic path:\n%s", out)
	}
}

// Documents that contain the block's text but not as the top-level value
// of sgx.trusted_files, or with an entry the fast path must not take.
func TestParseFastFallsBack(t *testing.T) {
	block := "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + "]\n"
	for name, doc := range map[string]string{
		"multi-line string":  "libos.entrypoint = \"/a\"\nsgx.debug = true\nloader.log_file = \"\"\"\n" + block + "\"\"\"\n",
		"literal string":     "libos.entrypoint = \"/a\"\nsgx.debug = true\nloader.log_file = '''\n" + block + "'''\n",
		"table header":       "libos.entrypoint = \"/a\"\nsgx.debug = true\n[sys.ioctl_structs]\n" + block,
		"sgx header":         "[sgx]\n" + block + "[libos]\nentrypoint = \"/a\"\n",
		"key twice":          "libos.entrypoint = \"/a\"\n" + block + "sgx.trusted_files = []\n",
		"extended":           "libos.entrypoint = \"/a\"\n" + block + "[[sgx.trusted_files]]\nuri = \"file:/y\"\n",
		"inline sgx":         "libos.entrypoint = \"/a\"\nsgx = { debug = true }\n" + block,
		"directory":          "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/d/", fpSum) + "]\n",
		"no path":            "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:", fpSum) + "]\n",
		"not file:":          "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("/x", fpSum) + "]\n",
		"conflict":           "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + fpEntry("file:/x", strings.Repeat("e", 64)) + "]\n",
		"escape":             "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry(`file:/x\u0041`, fpSum) + "]\n",
		"non-ASCII":          "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/é", fpSum) + "]\n",
		"upper case":         "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/x", strings.ToUpper(fpSum)) + "]\n",
		"short hash":         "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/x", fpSum[1:]) + "]\n",
		"no entrypoint":      block,
		"bad key after":      "libos.entrypoint = \"/a\"\n" + block + "sgx.nope = 1\n",
		"syntax error after": "libos.entrypoint = \"/a\"\n" + block + "x = \n",
		"CRLF":               "libos.entrypoint = \"/a\"\r\n" + strings.ReplaceAll(block, "\n", "\r\n"),
		"unterminated":       "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry("file:/x", fpSum),
	} {
		t.Run(name, func(t *testing.T) { parseBoth(t, []byte(doc)) })
	}
}

// FuzzParseFast: Parse with and without the fast path agree on every input
// (seeded with canonical documents, which take the fast path).
func FuzzParseFast(f *testing.F) {
	block := "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + fpEntry("file:/y z", fpSum) + "]\n"
	f.Add([]byte("libos.entrypoint = \"/a\"\n" + block))
	f.Add([]byte("libos.entrypoint = \"/a\"\n" + block + "sys.fds.limit = 3\n"))
	f.Add([]byte("[sgx]\n" + block + "[libos]\nentrypoint = \"/a\"\n"))
	f.Add([]byte("libos.entrypoint = \"/a\"\nsgx.debug = true\nloader.log_file = \"\"\"\n" + block + "\"\"\"\n"))
	f.Add([]byte("libos.entrypoint = \"/a\"\nsgx.debug = true\n[sys.ioctl_structs]\n" + block))
	f.Fuzz(func(t *testing.T, data []byte) { parseBoth(t, data) })
}

// FuzzParseFastEntries varies the entries inside an otherwise canonical
// document.
func FuzzParseFastEntries(f *testing.F) {
	f.Add("file:/x", fpSum, "file:/x", fpSum, "sys.fds.limit = 3\n")
	f.Add("file:/x", fpSum, "file:/x", strings.Repeat("a", 64), "")
	f.Add("file:/d/", fpSum, "file:", fpSum[1:], "[[sgx.trusted_files]]\n")
	f.Add("file:/a\"b", strings.ToUpper(fpSum), "file:/\\", fpSum, "\"\"\"\n")
	f.Fuzz(func(t *testing.T, uri1, sum1, uri2, sum2, after string) {
		doc := "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" + fpEntry(uri1, sum1) + fpEntry(uri2, sum2) + "]\n" + after
		parseBoth(t, []byte(doc))
	})
}

// checkTrustedSums checks m.TrustedSums against the map by host path that
// nacre run would otherwise build from m.TrustedFiles.
func checkTrustedSums(t *testing.T, m *Manifest) {
	t.Helper()
	lookup, n, ok := m.TrustedSums()
	if !ok {
		return
	}
	want := map[string][32]byte{}
	for _, tf := range m.TrustedFiles {
		host, err := HostPath(tf.URI)
		if err != nil || host != strings.TrimPrefix(tf.URI, "file:") {
			t.Fatalf("TrustedSums offered for %s (host path %q, %v)", tf.URI, host, err)
		}
		var sum [32]byte
		if _, err := hex.Decode(sum[:], []byte(tf.SHA256)); err != nil {
			t.Fatalf("TrustedSums offered for %s with sha256 %q", tf.URI, tf.SHA256)
		}
		want[host] = sum
	}
	if n != len(want) {
		t.Fatalf("TrustedSums counts %d paths, want %d", n, len(want))
	}
	for host, sum := range want {
		if got, ok := lookup(host); !ok || got != sum {
			t.Fatalf("TrustedSums(%q) = %x, %t; want %x", host, got, ok, sum)
		}
		for _, other := range []string{host + "x", host + "/", "/" + host, host[:len(host)-1]} {
			if _, listed := want[other]; !listed {
				if _, ok := lookup(other); ok {
					t.Fatalf("TrustedSums finds unlisted %q", other)
				}
			}
		}
	}
}

// TrustedSums is offered for the canonical form of clean absolute paths
// only, and goes away with the list it indexes.
func TestTrustedSums(t *testing.T) {
	clean := "sgx.trusted_files = [\n" + fpEntry("file:/a/b", fpSum) + fpEntry("file:/c", strings.Repeat("f", 64)) + fpEntry("file:/a/b", fpSum) + "]\n"
	m, fast := parseBoth(t, []byte("libos.entrypoint = \"/a\"\n"+clean))
	if !fast {
		t.Fatal("canonical block not fast-parsed")
	}
	lookup, n, ok := m.TrustedSums()
	if !ok || n != 2 {
		t.Fatalf("TrustedSums = %d, %t; want 2 paths", n, ok)
	}
	if sum, ok := lookup("/c"); !ok || sum[0] != 0xff || sum[31] != 0xff {
		t.Errorf("lookup(/c) = %x, %t", sum, ok)
	}
	if _, ok := lookup("file:/c"); ok {
		t.Error("lookup by uri instead of host path found an entry")
	}

	relative := "sgx.trusted_files = [\n" + fpEntry("file:a/b", fpSum) + "]\n"
	if m, fast := parseBoth(t, []byte("libos.entrypoint = \"/a\"\n"+relative)); !fast {
		t.Fatal("relative block not fast-parsed")
	} else if _, _, ok := m.TrustedSums(); ok {
		t.Error("TrustedSums offered for a relative path (its host path depends on the working directory)")
	}

	m.TrustedFiles = nil
	if err := m.ExpandTrustedFiles(ExpandOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.TrustedSums(); ok {
		t.Error("TrustedSums still offered after ExpandTrustedFiles replaced the list")
	}
}
