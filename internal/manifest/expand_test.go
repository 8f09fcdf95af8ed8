package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func hexsum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestExpandTrustedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lib/a.so", "A")
	write("lib/sub/b.so", "B")
	write("bin/app", "APP")
	write("outside/c", "C")
	os.Symlink(filepath.Join(dir, "outside"), filepath.Join(dir, "lib/linkdir")) // not descended
	os.Symlink(filepath.Join(dir, "outside/c"), filepath.Join(dir, "lib/linkfile"))
	os.Mkdir(filepath.Join(dir, "lib/empty"), 0o755)

	src := `libos.entrypoint = "/bin/app"
sgx.trusted_files = [
  "file:` + dir + `/bin/app",
  "file:` + dir + `/lib/",
  { uri = "file:` + dir + `/lib/a.so", sha256 = "` + hexsum("A") + `" },
  "file:` + dir + `/bin/app",
]
`
	m := mustParse(t, src)
	var last, total int64
	err := m.ExpandTrustedFiles(ExpandOptions{Workers: 2, Progress: func(d, tot int64) { last, total = d, tot }})
	if err != nil {
		t.Fatal(err)
	}
	want := []TrustedFile{
		{"file:" + dir + "/bin/app", hexsum("APP")},
		{"file:" + dir + "/lib/a.so", hexsum("A")},
		{"file:" + dir + "/lib/linkfile", hexsum("C")},
		{"file:" + dir + "/lib/sub/b.so", hexsum("B")},
	}
	if !reflect.DeepEqual(m.TrustedFiles, want) {
		t.Errorf("TrustedFiles:\n%v\nwant\n%v", m.TrustedFiles, want)
	}
	if last != total || total != int64(len("APPCB")) /* a.so has a hash: not read */ {
		t.Errorf("progress %d/%d", last, total)
	}
	out, _ := m.Marshal()
	m2, err := Parse("x", out)
	if err != nil || !reflect.DeepEqual(m2.TrustedFiles, want) {
		t.Errorf("expanded manifest does not round trip: %v\n%s", err, out)
	}

	// A duplicate without a hash merges into the entry with one; a given
	// hash is kept without reading the file, as in Gramine.
	bad := mustParse(t, `libos.entrypoint = "/x"
sgx.trusted_files = ["file:`+dir+`/lib/a.so", { uri = "file:`+dir+`/lib/a.so", sha256 = "`+hexsum("not A")+`" }]
`)
	if err := bad.ExpandTrustedFiles(ExpandOptions{}); err != nil {
		t.Fatal(err)
	}
	if bad.TrustedFiles[0].SHA256 != hexsum("not A") || len(bad.TrustedFiles) != 1 {
		t.Errorf("duplicate merge: %v", bad.TrustedFiles)
	}
	conflict := mustParse(t, `libos.entrypoint = "/x"
sgx.trusted_files = [{ uri = "file:`+dir+`/lib/a.so", sha256 = "`+hexsum("1")+`" }, "file:`+dir+`/lib/"]
`)
	conflict.TrustedFiles = append(conflict.TrustedFiles, TrustedFile{URI: "file:" + dir + "/lib/a.so", SHA256: hexsum("2")})
	if err := conflict.ExpandTrustedFiles(ExpandOptions{}); err == nil || !strings.Contains(err.Error(), "different sha256") {
		t.Errorf("conflicting hashes: %v", err)
	}

	missing := mustParse(t, "libos.entrypoint = \"/x\"\nsgx.trusted_files = [\"file:"+dir+"/nope\"]\n")
	if err := missing.ExpandTrustedFiles(ExpandOptions{}); err == nil || !strings.Contains(err.Error(), "sgx.trusted_files[0]") {
		t.Errorf("missing file: %v", err)
	}

	// --chroot: absolute and relative URIs are read below the chroot; URIs
	// stay as written.
	ch := mustParse(t, "libos.entrypoint = \"/x\"\nsgx.trusted_files = [\"file:/bin/app\", \"file:lib/sub/\"]\n")
	if err := ch.ExpandTrustedFiles(ExpandOptions{Chroot: dir}); err != nil {
		t.Fatal(err)
	}
	if want := []TrustedFile{{"file:/bin/app", hexsum("APP")}, {"file:lib/sub/b.so", hexsum("B")}}; !reflect.DeepEqual(ch.TrustedFiles, want) {
		t.Errorf("chroot: %v", ch.TrustedFiles)
	}
}
