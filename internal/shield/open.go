package shield

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/measure"
	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// Loaded is a manifest ready to run.
type Loaded struct {
	Path     string             // file the manifest was read from
	Manifest *manifest.Manifest //
	Signed   *measure.Signed    // nil for an unsigned manifest (insecure, development only)

	encrypted []encryptedMount // filled by fileView

	index *trustedfs.PendingIndex // chunk index loading since Run began, or nil
}

// encryptedMount is one type = "encrypted" entry of fs.mounts.
type encryptedMount struct {
	manifest.Mount
	host string // the host directory of protected files
}

// ResolveManifestPath accepts what gramine-direct/gramine-sgx accept: a file
// path, or an application name whose APP.manifest.sgx or APP.manifest exists.
func ResolveManifestPath(arg string) (string, error) {
	// An application name first, as gramine-sgx does: the program itself
	// usually sits beside its manifest under that very name.
	for _, suffix := range []string{".manifest.sgx", ".manifest"} {
		if st, err := os.Stat(arg + suffix); err == nil && !st.IsDir() {
			return arg + suffix, nil
		}
	}
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return arg, nil
	}
	return "", fmt.Errorf("manifest %s: %w (give a manifest file, or an application name with APP.manifest.sgx or APP.manifest beside it)", arg, fs.ErrNotExist)
}

// Open reads a manifest. A signed manifest is verified (measurement and
// signature) before anything else; an unsigned one is parsed as is.
func Open(arg string) (*Loaded, error) {
	path, err := ResolveManifestPath(arg)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	// data is handed over: nothing here changes it after parsing.
	if measure.IsSigned(data) {
		s, err := measure.OpenOwned(path, data)
		if err != nil {
			return nil, err
		}
		return &Loaded{Path: path, Manifest: s.Manifest, Signed: s}, nil
	}
	if strings.HasSuffix(path, ".sgx") {
		return nil, fmt.Errorf("manifest %s: %w: a .manifest.sgx file must carry nacre's signature; sign it with nacre sign", path, measure.ErrNotSigned)
	}
	m, err := manifest.ParseOwned(path, data)
	if err != nil {
		return nil, err
	}
	return &Loaded{Path: path, Manifest: m}, nil
}
