package shield

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nacre-tee/nacre/internal/fileserver"
	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/pffs"
	"github.com/nacre-tee/nacre/internal/runtimedir"
	"github.com/nacre-tee/nacre/internal/sandbox"
	"github.com/nacre-tee/nacre/internal/trustedfs"
	"github.com/nacre-tee/nacre/internal/verifiedcache"
)

// ChunkIndexPath is where nacre sign writes the chunk index of a signed manifest.
func ChunkIndexPath(signedManifest string) string { return signedManifest + ".chunks" }

// fileView translates the manifest's filesystem keys into the file server's
// view and the sandbox's extra mounts.
func (l *Loaded) fileView(log *slog.Logger) (fileserver.Config, []sandbox.Mount, error) {
	fc, mounts, err := l.mountView(log)
	if err != nil {
		return fc, nil, err
	}
	if err := l.trustedView(&fc); err != nil {
		return fc, nil, err
	}
	return fc, mounts, nil
}

// trustedView adds the trusted set (and the interpreter alias it implies) to
// a view from mountView. It is the expensive part of fileView (thousands of
// entries, the chunk index), which Run overlaps with the sandbox's start.
func (l *Loaded) trustedView(fc *fileserver.Config) error {
	set, err := l.trustedSet()
	if err != nil {
		return err
	}
	fc.Trusted = set
	fc.TrustedUnder = l.trustedUnder()
	fc.Aliases = interpreterAliases(fc.Mounts, set)
	if set.Len() > 0 {
		fc.Cache = l.verifiedCache(fc)
		fc.Passthrough = verifiedcache.PassthroughWanted()
	}
	return nil
}

// verifiedCache opens the store of verified copies of trusted files
// (internal/verifiedcache), or returns nil when it is off or unsafe. Every
// run, with or without the store, keeps the app away from the places
// where stores live: the file server refuses them (fileserver
// Config.Protected, set by mountView), and mountView refuses encrypted and
// device mounts that overlap them (checkProtected).
func (l *Loaded) verifiedCache(fc *fileserver.Config) *verifiedcache.Store {
	log := fc.Log
	if log == nil {
		log = slog.Default()
	}
	return verifiedcache.OpenDefault(log)
}

// checkProtected refuses a mount that the file server does not serve (so
// it cannot keep the app out of part of it) when its host path is, lies in
// or holds a directory where nacre keeps verified copies: the app could
// plant copies there that later runs would serve without hashing.
func (l *Loaded) checkProtected(key, kind, mountPath, host string, protected []string) error {
	if q, ok := verifiedcache.Overlaps(host, protected); ok {
		return fmt.Errorf("%s: %s: %s mount of %s: host path %s overlaps %s, where nacre keeps verified copies of trusted files (any nacre run of this user may use it); use a host directory outside it (for /dev/shm, /run or $XDG_RUNTIME_DIR, a subdirectory of its own), or move the store with %s",
			l.Path, key, kind, mountPath, host, q, verifiedcache.EnvDir)
	}
	return nil
}

// mountView is fileView without the trusted files.
func (l *Loaded) mountView(log *slog.Logger) (fileserver.Config, []sandbox.Mount, error) {
	m := l.Manifest
	if log == nil {
		log = slog.Default()
	}
	var fc fileserver.Config
	var mounts []sandbox.Mount
	fc.Log = log
	fc.UID, fc.GID = m.Loader.UID, m.Loader.GID
	fc.Protected = verifiedcache.Protected()
	fc.MountPoints = []string{"/proc", "/dev"}

	all := append([]manifest.Mount{m.FS.Root}, m.FS.Mounts...)
	all[0].Path = "/"
	var devices []manifest.Mount
	for _, mt := range all {
		key := "fs.mounts"
		if mt.Path == "/" {
			key = "fs.root"
		}
		if err := l.checkNotShieldOwn(key, mt); err != nil {
			return fc, nil, err
		}
		switch mt.Type {
		case manifest.MountChroot, "":
			if strings.HasPrefix(mt.URI, "dev:") {
				if mt.Path == "/" {
					return fc, nil, fmt.Errorf("%s: fs.root: a device (%s) cannot be the root", l.Path, mt.URI)
				}
				devices = append(devices, mt) // once the allowed files are known
				continue
			}
			host, err := manifest.HostPath(mt.URI)
			if err != nil {
				return fc, nil, fmt.Errorf("%s: %s (path %s): %w", l.Path, key, mt.Path, err)
			}
			if _, err := os.Stat(host); err != nil {
				if mt.Path != "/" {
					return fc, nil, fmt.Errorf("%s: %s: mount of %s: host path %s: %w", l.Path, key, mt.Path, host, err)
				}
			}
			fc.Mounts = append(fc.Mounts, fileserver.Mount{Path: path.Clean(mt.Path), Host: host})
		case manifest.MountTmpfs:
			mounts = append(mounts, sandbox.Mount{Kind: "tmpfs", Path: path.Clean(mt.Path), Options: "mode=1777"})
			fc.MountPoints = append(fc.MountPoints, path.Clean(mt.Path))
		case manifest.MountEncrypted:
			// An encrypted fs.root is mounts[0] at "/": the sandbox makes
			// it the root and binds the file server's mounts onto it
			// (rootBinds below).
			host, err := manifest.HostPath(mt.URI)
			if err != nil {
				return fc, nil, fmt.Errorf("%s: %s (path %s): %w", l.Path, key, mt.Path, err)
			}
			if err := l.checkProtected(key, "encrypted", mt.Path, host, fc.Protected); err != nil {
				return fc, nil, err
			}
			mounts = append(mounts, sandbox.Mount{Kind: sandbox.MountFUSE, Path: path.Clean(mt.Path), Source: host, Name: "pf", ReadaheadKB: pffs.ReadaheadKB})
			if mt.Path != "/" {
				fc.MountPoints = append(fc.MountPoints, path.Clean(mt.Path))
			}
			em := encryptedMount{Mount: mt, host: host}
			em.Path = path.Clean(mt.Path) // as the sandbox mount: Gramine accepts "/db/"
			l.encrypted = append(l.encrypted, em)
		default:
			return fc, nil, fmt.Errorf("%s: %s: mount of %s: unsupported type %q", l.Path, key, mt.Path, mt.Type)
		}
	}

	var allowedDevs []string
	for _, uri := range m.AllowedFiles {
		if dev, ok := strings.CutPrefix(uri, "dev:"); ok {
			allowedDevs = append(allowedDevs, devHostPath(dev))
			continue
		}
		host, err := manifest.HostPath(uri)
		if err != nil {
			return fc, nil, fmt.Errorf("%s: sgx.allowed_files: %w", l.Path, err)
		}
		fc.Allowed = append(fc.Allowed, host)
	}
	devMounts, err := l.deviceMounts(devices, allowedDevs, log)
	if err != nil {
		return fc, nil, err
	}
	for _, dm := range devMounts {
		if err := l.checkProtected("fs.mounts", "device", dm.Path, dm.Source, fc.Protected); err != nil {
			return fc, nil, err
		}
	}
	mounts = append(mounts, devMounts...)
	if len(mounts) > 0 && mounts[0].Path == "/" && mounts[0].Kind == sandbox.MountFUSE {
		mounts[0].Binds = l.rootBinds(&fc, log)
	}
	if m.FileCheckPolicy == manifest.PolicyAllowAllButLog {
		fc.Policy = fileserver.AllowAllButLog
	}
	return fc, mounts, nil
}

// trustedSet collects sgx.trusted_files by host path, attaching the signed
// chunk index when there is one.
func (l *Loaded) trustedSet() (*trustedfs.Set, error) {
	m := l.Manifest
	needHash := false
	for _, tf := range m.TrustedFiles {
		if tf.SHA256 == "" {
			needHash = true
		}
	}
	if needHash {
		if l.Signed != nil {
			return nil, fmt.Errorf("%s: sgx.trusted_files: a signed manifest has an entry without sha256; re-sign it with nacre sign", l.Path)
		}
		slog.Warn("hashing trusted files at start: the manifest has entries without sha256 (render it with nacre manifest to hash them once)", "manifest", l.Path)
		if err := m.ExpandTrustedFiles(manifest.ExpandOptions{}); err != nil {
			return nil, err
		}
	}
	var set *trustedfs.Set
	if lookup, n, ok := m.TrustedSums(); ok && !needHash {
		// The parse's own table by host path: building a map of 7,900
		// entries here cost ~1.4 ms of nacre run's critical path.
		set = trustedfs.NewSetLookup(lookup, n)
	} else {
		entries := make(map[string][32]byte, len(m.TrustedFiles))
		for _, tf := range m.TrustedFiles {
			host, err := manifest.HostPath(tf.URI)
			if err != nil {
				return nil, fmt.Errorf("%s: sgx.trusted_files: %w", l.Path, err)
			}
			// Decoded in place: this loop runs for every trusted file while the
			// sandbox child waits for the root.
			var sum [32]byte
			if len(tf.SHA256) != 2*len(sum) {
				return nil, fmt.Errorf("%s: sgx.trusted_files: %s: sha256 %q is not 64 hex digits", l.Path, tf.URI, tf.SHA256)
			}
			if _, err := hex.Decode(sum[:], []byte(tf.SHA256)); err != nil {
				return nil, fmt.Errorf("%s: sgx.trusted_files: %s: sha256 %q is not 64 hex digits", l.Path, tf.URI, tf.SHA256)
			}
			entries[host] = sum
		}
		set = trustedfs.NewSetOwned(entries) // entries is not used again
	}
	if l.Signed != nil && l.Signed.ChunkIndexSHA256 != nil {
		pending := l.index
		if pending == nil {
			pending = trustedfs.LoadIndex(ChunkIndexPath(l.Path))
		}
		ix, err := pending.Wait(*l.Signed.ChunkIndexSHA256)
		if err != nil {
			return nil, fmt.Errorf("chunk index of %s: %w (re-run nacre sign to regenerate it)", l.Path, err)
		}
		if err := set.AttachIndex(ix); err != nil {
			return nil, fmt.Errorf("chunk index of %s: %w", l.Path, err)
		}
	}
	return set, nil
}

// interpreterAliases makes the ELF interpreter path programs expect
// (/lib64/ld-linux-x86-64.so.2) resolve to the loader of the runtime directory
// that Gramine-style manifests mount (at /lib), when no mount provides it.
// Gramine manifests never mount it because Gramine loads ld.so itself.
func interpreterAliases(mounts []fileserver.Mount, set *trustedfs.Set) map[string]string {
	interp := runtimedir.Interpreter()
	if interp == "" {
		return nil
	}
	// Does a mount other than the root already serve the interpreter?
	for _, mt := range mounts {
		if mt.Path != "/" && (interp == mt.Path || strings.HasPrefix(interp, mt.Path+"/")) {
			return nil
		}
	}
	name := filepath.Base(interp)
	// Prefer the mount at /lib (Gramine's runtime directory convention).
	var candidates []fileserver.Mount
	for _, mt := range mounts {
		if mt.Path == "/lib" {
			candidates = append([]fileserver.Mount{mt}, candidates...)
		} else if mt.Path != "/" {
			candidates = append(candidates, mt)
		}
	}
	for _, mt := range candidates {
		host := filepath.Join(mt.Host, name)
		if set.Contains(host) {
			return map[string]string{interp: host}
		}
	}
	return nil
}

// checkNotShieldOwn refuses a host directory or encrypted mount at or under
// /proc or /dev: the shield mounts its own /proc and /dev over the view, so
// such a mount would be hidden without a word. (Devices come through dev:
// URIs; a tmpfs under /dev is refused by the sandbox, one under /proc here,
// as the moved /proc would hide it too.)
func (l *Loaded) checkNotShieldOwn(key string, mt manifest.Mount) error {
	if strings.HasPrefix(mt.URI, "dev:") {
		return nil
	}
	owns := []string{"/proc", "/dev"}
	if mt.Type == manifest.MountTmpfs {
		owns = owns[:1]
	}
	p := path.Clean(mt.Path)
	for _, own := range owns {
		if p == own || strings.HasPrefix(p, own+"/") {
			return fmt.Errorf("%s: %s: mount of %s: %s is the shield's own and would hide it; mount the directory elsewhere (host devices: a dev: URI)", l.Path, key, mt.Path, own)
		}
	}
	return nil
}

// trustedUnder answers fileserver Config.TrustedUnder from the manifest's
// trusted files. The set of their host directories is built on the first
// question (a directory rename by the app), not at start.
func (l *Loaded) trustedUnder() func(dir string) bool {
	files := l.Manifest.TrustedFiles
	dirs := sync.OnceValue(func() map[string]bool {
		m := map[string]bool{}
		for _, f := range files {
			host, err := manifest.HostPath(f.URI)
			if err != nil {
				continue
			}
			for d := path.Dir(path.Clean(host)); !m[d]; d = path.Dir(d) {
				m[d] = true
				if d == "/" || d == "." {
					break
				}
			}
		}
		return m
	})
	return func(dir string) bool { return dirs()[path.Clean(dir)] }
}
