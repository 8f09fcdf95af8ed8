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
