package manifest

import (
	"strings"
	"testing"
)

// More documents around the canonical block that must parse exactly as the
// generic path parses them (review of parseFast).
func TestParseFastReviewCases(t *testing.T) {
	e := "libos.entrypoint = \"/a\"\n"
	block := "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + "]\n"
	for name, doc := range map[string]string{
		"literal string closed by uri": e + "loader.log_file = '''\nsgx.trusted_files = [\n" + fpEntry("file:/a'''", fpSum) + "]\n",
		"basic string line ending":     e + "loader.log_file = \"\"\"a \\\n" + block + "\"\"\"\n",
		"comment line in block":        e + "sgx.trusted_files = [\n# c\n" + fpEntry("file:/x", fpSum) + "]\n",
		"comment after entry":          e + "sgx.trusted_files = [\n" + strings.TrimSuffix(fpEntry("file:/x", fpSum), "\n") + " # c\n]\n",
		"comment after bracket":        e + "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + "] # c\n",
		"empty block":                  e + "sgx.trusted_files = [\n]\n",
		"trailing space":               e + "sgx.trusted_files = [\n" + strings.TrimSuffix(fpEntry("file:/x", fpSum), "\n") + " \n]\n",
		"uri with # and ]":             e + "sgx.trusted_files = [\n" + fpEntry("file:/a#]b", fpSum) + "]\n",
		"uri with quote chars":         e + "sgx.trusted_files = [\n" + fpEntry("file:/a' {}=,", fpSum) + "]\n",
		"spaced key":                   e + "sgx . trusted_files = \"x\"\n" + block,
		"quoted key later":             e + block + "\"sgx\".trusted_files = []\n",
		"array of tables before":       e + "[[sgx]]\n" + block,
		"inline table open":            e + "x = { a = 1,\n" + block + "}\n",
		"array open":                   e + "x = [\n" + block + "]\n",
		"NUL after":                    e + block + "x = \"\x00\"\n",
		"equal duplicates":             e + "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + fpEntry("file:/x", fpSum) + "]\n",
		"block first":                  block + e,
		"block twice":                  e + block + block,
		"second block in string":       e + block + "loader.log_file = '''\n" + block + "'''\n",
		"sgx table after":              e + block + "[sgx]\ndebug = true\n",
		"relative uri":                 e + "sgx.trusted_files = [\n" + fpEntry("file:x/../y", fpSum) + "]\n",
		"tab in uri":                   e + "sgx.trusted_files = [\n" + fpEntry("file:/a\tb", fpSum) + "]\n",
		"DEL in uri":                   e + "sgx.trusted_files = [\n" + fpEntry("file:/a\x7fb", fpSum) + "]\n",
		"CR in entry":                  e + "sgx.trusted_files = [\n" + strings.TrimSuffix(fpEntry("file:/x", fpSum), "\n") + "\r\n]\n",
		"no final newline":             e + "sgx.trusted_files = [\n" + fpEntry("file:/x", fpSum) + "]",
	} {
		t.Run(name, func(t *testing.T) { parseBoth(t, []byte(doc)) })
	}
}
