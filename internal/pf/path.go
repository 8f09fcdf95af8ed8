package pf

import "path"

// NormalizePath normalizes a host path the way Gramine's get_norm_path does
// before binding it into a file: empty and "." components are dropped, ".."
// removes the previous component (and is kept at the start of a relative
// path), "/.." is "/", a trailing slash is dropped. It differs from
// path.Clean only in that a path normalizing to nothing is "" (not ".").
func NormalizePath(p string) string {
	if p == "" {
		return ""
	}
	if c := path.Clean(p); c != "." {
		return c
	}
	return ""
}
