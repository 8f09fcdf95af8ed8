package manifest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// ParseOwned decodes like Parse; Parse's result must not depend on the
// caller's buffer afterwards, ParseOwned's may (the caller promised not to
// change it).
func TestParseOwned(t *testing.T) {
	doc := "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" +
		fpEntry("file:/b", fpSum) + fpEntry("file:/a", strings.Repeat("9", 64)) + "]\n"
	copied, err := Parse("p", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	owned, err := ParseOwned("p", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(copied.TrustedFiles, owned.TrustedFiles) || len(owned.TrustedFiles) != 2 {
		t.Fatalf("ParseOwned: %v, Parse: %v", owned.TrustedFiles, copied.TrustedFiles)
	}

	data := []byte(doc)
	m, err := Parse("p", data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data)
	if m.TrustedFiles[0].URI != "file:/b" || m.TrustedFiles[0].SHA256 != fpSum {
		t.Fatalf("Parse's entries changed with the caller's buffer: %v", m.TrustedFiles)
	}

	data = []byte(doc)
	m, err = ParseOwned("p", data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[bytes.Index(data, []byte("file:/b")):], "file:/c")
	if m.TrustedFiles[0].URI != "file:/c" {
		t.Fatalf("ParseOwned copied the block (want its strings to share data): %v", m.TrustedFiles)
	}
}
