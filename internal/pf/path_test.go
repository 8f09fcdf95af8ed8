package pf

import "testing"

// Cases worked through Gramine's get_norm_path algorithm.
func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"./pf/../pf/x.pf": "pf/x.pf",
		"pf/x.pf":         "pf/x.pf",
		"a//b/":           "a/b",
		"a/b/../c":        "a/c",
		"../../x":         "../../x",
		"a/../../x":       "../x",
		"/../x":           "/x",
		"/":               "/",
		"/tmp/./enc/f":    "/tmp/enc/f",
		".":               "",
		"a/..":            "",
		"":                "",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
