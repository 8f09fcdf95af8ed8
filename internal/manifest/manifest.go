package manifest

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/pelletier/go-toml/v2"
)

// Manifest is a parsed and validated manifest. The TOML tree (Tree) is the
// source of truth; the exported fields are a typed view of it, filled by
// Parse and by ExpandTrustedFiles. Zero values below mean "key absent" unless
// a default is named.
type Manifest struct {
	File string // file name used in error messages

	Loader Loader
	LibOS  LibOS
	FS     FS
	SGX    SGX
	Sys    Sys

	// TrustedFiles lists sgx.trusted_files in manifest order. SHA256 is ""
	// for entries not hashed yet (including directories, whose URI ends in
	// "/"); ExpandTrustedFiles fills them.
	TrustedFiles []TrustedFile
	// AllowedFiles lists sgx.allowed_files URIs ("file:" or "dev:").
	AllowedFiles []string
	// FileCheckPolicy is sgx.file_check_policy (default PolicyStrict).
	FileCheckPolicy FileCheckPolicy

	// Ignored lists the SGX-only keys present (accepted, type-checked,
	// without effect in nacre), sorted.
	Ignored []string

	tree  map[string]any
	lines *positions // key lines, computed on first use (see positions.go)

	// trustedTable indexes TrustedFiles by host path when the fast parse
	// read them (fastparse.go); nil otherwise, and once ExpandTrustedFiles
	// replaced them.
	trustedTable *pathTable
}

// Loader is the typed view of loader.*.
type Loader struct {
	EntrypointURI    string   // loader.entrypoint.uri (accepted, unused: nacre has no LibOS binary)
	EntrypointSHA256 string   // loader.entrypoint.sha256
	Argv             []string // loader.argv; nil if absent
	ArgvSrcFile      string   // loader.argv_src_file (URI)
	UseCmdlineArgv   bool     // loader.insecure__use_cmdline_argv
	Env              []EnvVar // loader.env.*, sorted by name
	EnvSrcFile       string   // loader.env_src_file (URI)
	UseHostEnv       bool     // loader.insecure__use_host_env
	UID, GID         uint32   // loader.uid, loader.gid (default 0)
	LogLevel         string   // loader.log_level (default "error")
	LogFile          string   // loader.log_file ("" = stderr)
	DisableASLR      bool     // loader.insecure__disable_aslr
}

// EnvVar is one loader.env.<Name> entry: either a fixed Value or, with
// Passthrough, the host's value (if the host has the variable).
type EnvVar struct {
	Name        string
	Value       string
	Passthrough bool
}

// LibOS is the typed view of libos.*.
type LibOS struct {
	Entrypoint           string // libos.entrypoint (required): first executable, path inside the shield
	CheckInvalidPointers bool   // libos.check_invalid_pointers (default true)
}

// FS is the typed view of fs.*.
type FS struct {
	Root     Mount  // fs.root (default chroot of "file:."), Path is "/"
	StartDir string // fs.start_dir (default "/")
	Mounts   []Mount
	// InsecureKeys holds fs.insecure__keys.<name>, decoded (16 bytes).
	InsecureKeys map[string][16]byte
}

// Mount types accepted in fs.root and fs.mounts.
const (
	MountChroot    = "chroot"
	MountTmpfs     = "tmpfs"
	MountEncrypted = "encrypted"
)

// Mount is one fs.mounts element (or fs.root).
type Mount struct {
	Type           string // MountChroot (default), MountTmpfs or MountEncrypted
	Path           string // absolute path inside the shield
	URI            string // "file:" host path; ignored for tmpfs
	KeyName        string // encrypted only (default "default")
	EnableRecovery bool   // encrypted only
}

// TrustedFile is one sgx.trusted_files entry.
type TrustedFile struct {
	URI    string // "file:" URI; a trailing "/" marks a directory
	SHA256 string // lowercase hex, "" if not hashed yet
}

// FileCheckPolicy is sgx.file_check_policy.
type FileCheckPolicy string

// File check policies.
const (
	PolicyStrict         FileCheckPolicy = "strict"
	PolicyAllowAllButLog FileCheckPolicy = "allow_all_but_log"
)

// AttestationType is sgx.remote_attestation.
type AttestationType string

// Attestation types known to nacre's manifest parser.
const (
	AttestationNone AttestationType = "none"
	AttestationDCAP AttestationType = "dcap"
)

// AttestationTypes is the list of accepted sgx.remote_attestation values.
// Packages adding attestation platforms append to it in an init function.
var AttestationTypes = []AttestationType{AttestationNone, AttestationDCAP}

// SGX is the typed view of the sgx.* keys nacre uses.
type SGX struct {
	Debug             bool            // sgx.debug
	ISVProdID         uint16          // sgx.isvprodid
	ISVSVN            uint16          // sgx.isvsvn
	RemoteAttestation AttestationType // sgx.remote_attestation (default "none")
}

// Sys is the typed view of sys.*.
type Sys struct {
	EnableSigtermInjection            bool  // sys.enable_sigterm_injection
	DisallowSubprocesses              bool  // sys.disallow_subprocesses
	FDsLimit                          int64 // sys.fds.limit (default 900)
	StackSize                         int64 // sys.stack.size in bytes (default 256 KiB)
	BrkMaxSize                        int64 // sys.brk.max_size in bytes (default 256 KiB)
	EnableExtraRuntimeDomainNamesConf bool  // sys.enable_extra_runtime_domain_names_conf
	InsecureAllowEventfd              bool  // sys.insecure__allow_eventfd
	ExperimentalEnableFlock           bool  // sys.experimental__enable_flock
}

// Load reads and parses the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates manifest TOML. file names the manifest in error
// messages.
func Parse(file string, data []byte) (*Manifest, error) { return parse(file, data, false) }

// ParseOwned is Parse for a caller that hands data over: it must never
// change data afterwards, as the manifest's strings may share its bytes
// (nacre run's start-up saves a copy of the trusted-files block).
func ParseOwned(file string, data []byte) (*Manifest, error) { return parse(file, data, true) }

func parse(file string, data []byte, owned bool) (*Manifest, error) {
	tree, lines, fast := fastParse(data, owned)
	if !fast {
		tree = map[string]any{}
		if err := toml.Unmarshal(data, &tree); err != nil {
			return nil, syntaxError(file, err)
		}
		lines = newPositions(data)
	}
	m := &Manifest{File: file, tree: tree, lines: lines}
	if err := m.validate(); err != nil {
		return nil, err
	}
	for _, k := range m.Ignored {
		debugOnce(file, k, "manifest key has no effect in nacre (SGX-only)")
	}
	if m.Loader.EntrypointURI != "" {
		debugOnce(file, "loader.entrypoint", "loader.entrypoint accepted and ignored: nacre has no separate LibOS binary")
	}
	return m, nil
}

func syntaxError(file string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return &SyntaxError{File: file, Line: line, Column: col, Msg: de.Error()}
	}
	return &SyntaxError{File: file, Line: 1, Column: 1, Msg: err.Error()}
}

// logged remembers (file, key) pairs already logged: nacre sign and run
// parse the same manifest more than once, and one line per key is enough.
var logged sync.Map

func debugOnce(file, key, msg string) {
	if _, dup := logged.LoadOrStore(file+"\x00"+key, true); !dup {
		slog.Debug(msg, "file", file, "key", key)
	}
}

// Tree returns the parsed TOML tree (tables are map[string]any, arrays
// []any, integers int64). It is the manifest itself: callers that modify it
// must call Revalidate before relying on the typed fields again.
func (m *Manifest) Tree() map[string]any {
	m.materialize()
	return m.tree
}

// Revalidate rebuilds the typed view from the tree after a caller changed it.
func (m *Manifest) Revalidate() error {
	fresh := &Manifest{File: m.File, tree: m.tree, lines: m.lines}
	if err := fresh.validate(); err != nil {
		return err
	}
	*m = *fresh
	return nil
}

// Line returns the line of a dotted key (as in KeyError.Key), or of its
// nearest enclosing key, or 0.
func (m *Manifest) Line(key string) int {
	lines := m.lines.get()
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := lines[k]; ok {
			return l
		}
	}
	return 0
}

// parentKey strips the last part ("a.b[1]" -> "a.b", "a.b" -> "a").
func parentKey(k string) string {
	i := len(k) - 1
	if k[i] == ']' {
		for i >= 0 && k[i] != '[' {
			i--
		}
		return k[:max(i, 0)]
	}
	inQuote := false
	for j := len(k) - 1; j >= 0; j-- {
		switch k[j] {
		case '"':
			inQuote = !inQuote
		case '.':
			if !inQuote {
				return k[:j]
			}
		}
	}
	return ""
}

// get returns the value at a path of table keys, or nil.
func get(tree map[string]any, path ...string) any {
	var cur any = tree
	for _, p := range path {
		t, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = t[p]
	}
	return cur
}

func sortedEnv(env []EnvVar) []EnvVar {
	slices.SortFunc(env, func(a, b EnvVar) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return env
}
