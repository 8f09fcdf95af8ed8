package manifest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Key lines are computed on first use; they must be those of the bytes given
// to Parse, as when Parse computed them, even if the caller reuses its buffer.
func TestLinesComputedLazily(t *testing.T) {
	src := "libos.entrypoint = \"/a\"\n\n[sgx]\ntrusted_files = [\n" +
		"  { uri = \"file:/x\", sha256 = \"" + strings.Repeat("ab", 32) + "\" },\n" +
		"  \"file:/d/\",\n]\n"
	data := []byte(src)
	m, err := Parse("lazy", data)
	if err != nil {
		t.Fatal(err)
	}
	if m.lines.lines != nil {
		t.Error("key lines computed for a valid manifest")
	}
	for i := range data {
		data[i] = '\n' // the caller reuses its buffer
	}
	if !maps.Equal(m.lines.get(), keyLines([]byte(src))) {
		t.Errorf("lazy lines %v differ from keyLines", m.lines.get())
	}
	for key, want := range map[string]int{
		"libos.entrypoint": 1, "sgx": 3, "sgx.trusted_files[0].sha256": 5, "sgx.trusted_files[1]": 6,
	} {
		if got := m.Line(key); got != want {
			t.Errorf("Line(%q) = %d, want %d", key, got, want)
		}
	}
}

// trustedEntryFast must accept exactly what the generic checks accept without
// error, with the same result, and leave every error to them.
func TestTrustedFilesFastPath(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	entry := func(uri, sha string) string { return "  { uri = \"" + uri + "\", sha256 = \"" + sha + "\" },\n" }
	parse := func(entries ...string) (*Manifest, error) {
		return Parse("tf", []byte("libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n"+strings.Join(entries, "")+"]\n"))
	}
	m, err := parse(entry("file:/x", strings.ToUpper(sum)), entry("file:/y", sum), entry("file:/x", sum))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.TrustedFiles) != 3 || m.TrustedFiles[0] != (TrustedFile{URI: "file:/x", SHA256: sum}) {
		t.Errorf("trusted files = %+v", m.TrustedFiles)
	}
	for _, c := range []struct {
		entries []string
		key     string
		line    int
		msg     string
	}{
		{[]string{entry("file:/x", sum), entry("file:/x", strings.Repeat("cd", 32))}, "sgx.trusted_files[1]", 4, "listed twice"},
		{[]string{entry("file:/d/", sum)}, "sgx.trusted_files[0]", 3, "directory"},
		{[]string{entry("/x", sum)}, "sgx.trusted_files[0].uri", 3, "must start with \"file:\""},
		{[]string{entry("file:", sum)}, "sgx.trusted_files[0].uri", 3, "name a path"},
		{[]string{entry("file:/x", sum[1:])}, "sgx.trusted_files[0].sha256", 3, "not a SHA-256"},
		{[]string{entry("file:/x", "g"+sum[1:])}, "sgx.trusted_files[0].sha256", 3, "not a SHA-256"},
		{[]string{"  { uri = \"file:/x\", sha256 = \"" + sum + "\", size = 1 },\n"}, "sgx.trusted_files[0].size", 3, "unknown key"},
		{[]string{"  { uri = \"file:/x\", sha256 = 1 },\n"}, "sgx.trusted_files[0].sha256", 3, "must be a string"},
		{[]string{"  { uri = \"file:/x\", hash = \"" + sum + "\" },\n"}, "sgx.trusted_files[0].hash", 3, "unknown key"},
	} {
		_, err := parse(c.entries...)
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != c.key || ke.Line != c.line || !strings.Contains(ke.Msg, c.msg) {
			t.Errorf("%q: err = %v, want %s at line %d: %s", c.entries, err, c.key, c.line, c.msg)
		}
	}
}

// FuzzTrustedFilesFastPath: with and without trustedEntryFast, Parse gives
// the same trusted files and the same errors.
func FuzzTrustedFilesFastPath(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	f.Add("file:/x", sum, "file:/x", strings.ToUpper(sum), "")
	f.Add("file:/x", sum, "file:/x", strings.Repeat("cd", 32), "")
	f.Add("file:/d/", sum, "file:", sum[1:], "size = 1")
	f.Add("/x", "g"+sum[1:], "file:/y", sum, "uri = \"file:/z\"")
	f.Fuzz(func(t *testing.T, uri1, sum1, uri2, sum2, extra string) {
		q := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
		src := "libos.entrypoint = \"/a\"\nsgx.trusted_files = [\n" +
			"  { uri = \"" + q(uri1) + "\", sha256 = \"" + q(sum1) + "\" },\n" +
			"  { uri = \"" + q(uri2) + "\", sha256 = \"" + q(sum2) + "\" },\n" +
			"  { uri = \"" + q(uri1) + "\", sha256 = \"" + q(sum2) + "\", " + extra + " },\n]\n"
		fast, errFast := Parse("tf", []byte(src))
		trustedFast = func(any) (TrustedFile, bool) { return TrustedFile{}, false }
		slow, errSlow := Parse("tf", []byte(src))
		trustedFast = trustedEntryFast
		if fmt.Sprint(errFast) != fmt.Sprint(errSlow) {
			t.Fatalf("errors differ:\nfast: %v\ngeneric: %v", errFast, errSlow)
		}
		if errFast == nil && !slices.Equal(fast.TrustedFiles, slow.TrustedFiles) {
			t.Fatalf("trusted files differ:\nfast: %v\ngeneric: %v", fast.TrustedFiles, slow.TrustedFiles)
		}
	})
}
