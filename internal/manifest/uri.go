package manifest

import (
	"fmt"
	"path/filepath"
	"strings"
)

// HostPath returns the host path named by a "file:" URI. Relative paths are
// made absolute against the current working directory, as Gramine resolves
// them against the loader's working directory. A trailing "/" (directory
// entries of trusted and allowed files) is dropped.
func HostPath(uri string) (string, error) {
	p, ok := strings.CutPrefix(uri, "file:")
	if !ok {
		return "", fmt.Errorf("URI %q does not start with \"file:\"", uri)
	}
	if p == "" {
		return "", fmt.Errorf("URI %q names no path", uri)
	}
	if isCleanAbs(p) { // what nacre manifest writes; Abs would return p
		return p, nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolving URI %q: %w", uri, err)
	}
	return abs, nil
}

// uriPath returns the path part of a file: URI without resolving it.
func uriPath(uri string) (string, bool) {
	return strings.CutPrefix(uri, "file:")
}

// isCleanAbs reports whether p is absolute and filepath.Clean(p) == p: no
// empty, "." or ".." element and no trailing slash (except "/" itself). It
// saves nacre run ~1 ms of Clean over 7,900 trusted files.
func isCleanAbs(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	if p[len(p)-1] == '/' {
		return false
	}
	// Every element starts after a '/' at i.
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		if rest == "" || rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/' ||
			rest[1] == '.' && (len(rest) == 2 || rest[2] == '/')) {
			return false
		}
	}
	return true
}
