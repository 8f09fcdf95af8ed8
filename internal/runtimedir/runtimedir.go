// Package runtimedir owns nacre's runtime directory, the counterpart of
// gramine.runtimedir(): a directory holding copies of the host's glibc
// runtime (the ELF interpreter, libc.so.6, libm.so.6, libnss_*, ...).
// Manifests mount it at /lib and list it in sgx.trusted_files, so the libc a
// shielded program runs with is measured like any other file and does not
// change under a signed manifest when the host upgrades glibc.
//
// It also owns the dynamic loader's library search (LDD, SystemLibDirs,
// Interpreter), which building the directory and the template function
// ldd() both need.
package runtimedir

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnsupportedLibc is returned for a libc other than "glibc".
var ErrUnsupportedLibc = errors.New("unsupported libc")

// EnvDir overrides the runtime directory location.
const EnvDir = "NACRE_RUNTIME_DIR"

// SystemDir is used when it exists or can be created (normally as root).
const SystemDir = "/usr/local/lib/nacre/runtime/glibc"

// stampName is written last into a complete directory; it lists each file
// with its size so an interrupted or tampered copy is recognised.
const stampName = ".nacre-runtime"

// requiredLibs must exist on the host; optionalLibs are copied when present.
// The set mirrors Gramine's glibc runtime directory and Debian's libc6.
var (
	requiredLibs = []string{"libc.so.6"}
	optionalLibs = []string{
		"libm.so.6", "libmvec.so.1", "libdl.so.2", "libpthread.so.0", "librt.so.1",
		"libutil.so.1", "libresolv.so.2", "libanl.so.1", "libBrokenLocale.so.1",
		"libnsl.so.1", "libnss_files.so.2", "libnss_dns.so.2", "libnss_compat.so.2",
		"libnss_hesiod.so.2", "libthread_db.so.1", "libc_malloc_debug.so.0",
		"libgcc_s.so.1",
	}
)

// Dir returns where the glibc runtime directory is (or will be created):
// $NACRE_RUNTIME_DIR, else SystemDir when it is complete or creatable, else
// $XDG_CACHE_HOME/nacre/runtime/glibc (~/.cache/nacre/runtime/glibc).
func Dir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Clean(d)
	}
	if complete(SystemDir) == nil || creatable(SystemDir) {
		return SystemDir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), "nacre-cache-"+strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(cache, "nacre", "runtime", "glibc")
}

// PkgLibDir is nacre's counterpart of gramine.pkglibdir: the directory
// above "runtime/" (or the runtime directory's parent when it is elsewhere).
func PkgLibDir() string {
	parent := filepath.Dir(Dir())
	if filepath.Base(parent) == "runtime" {
		return filepath.Dir(parent)
	}
	return parent
}

// LibOS is what gramine.libos renders to. nacre has no LibOS; the path is a
// placeholder that need not exist, and manifest tooling should not hash it.
func LibOS() string { return filepath.Join(PkgLibDir(), "libsysdb.so") }

// creatable reports whether the nearest existing ancestor of dir is writable.
func creatable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return syscall.Access(d, 2 /* W_OK */) == nil
		}
		if d == "/" || d == "." {
			return false
		}
	}
}

// Ensure returns the runtime directory for libc, creating it if it is
// missing or incomplete. A complete directory is never modified: a
// replacement is built beside it and renamed into place.
func Ensure(libc string) (string, error) {
	if libc != "glibc" {
		if libc == "musl" {
			return "", fmt.Errorf("runtime directory for libc %q: %w: nacre runs programs with the host's glibc; build the program against glibc", libc, ErrUnsupportedLibc)
		}
		return "", fmt.Errorf("runtime directory for libc %q: %w (only \"glibc\" is supported)", libc, ErrUnsupportedLibc)
	}
	dir := Dir()
	return dir, ensureAt(dir, hostSources)
}

type source struct {
	name string // name inside the runtime directory
	path string // host file (symlinks are followed when copying)
}

// hostSources lists the host files that make up the runtime directory.
func hostSources() ([]source, error) {
	interp := Interpreter()
	f, err := elf.Open(interp)
	if err != nil {
		return nil, fmt.Errorf("reading the host's ELF interpreter %s: %w", interp, err)
	}
	class, machine := f.Class, f.Machine
	f.Close()
	srcs := []source{{LoaderName(), interp}}
	for _, n := range requiredLibs {
		p := findSystemLib(n, class, machine)
		if p == "" {
			return nil, fmt.Errorf("host glibc library %s not found in %s: is glibc (libc6) installed?", n, strings.Join(SystemLibDirs(), ":"))
		}
		srcs = append(srcs, source{n, p})
	}
	for _, n := range optionalLibs {
		if p := findSystemLib(n, class, machine); p != "" {
			srcs = append(srcs, source{n, p})
		}
	}
	return srcs, nil
}

// ErrNotRuntimeDir is returned when the runtime directory path holds a
// directory nacre did not create; nacre never replaces such a directory.
var ErrNotRuntimeDir = errors.New("not a nacre runtime directory")

func ensureAt(dir string, sources func() ([]source, error)) error {
	if complete(dir) == nil {
		return nil
	}
	if err := replaceable(dir); err != nil {
		return err
	}
	srcs, err := sources()
	if err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating runtime directory parent: %w (set %s to a writable directory)", err, EnvDir)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return fmt.Errorf("creating runtime directory: %w (set %s to a writable directory)", err, EnvDir)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if err := populate(tmp, srcs); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	var old string
	if _, err := os.Lstat(dir); err == nil {
		// Incomplete leftover (interrupted build or damaged copy): move it
		// aside rather than writing into it.
		old = filepath.Join(parent, "."+filepath.Base(dir)+".old-"+filepath.Base(tmp))
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replacing incomplete runtime directory %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another nacre may have won the race; accept its complete result.
		if complete(dir) == nil {
			return nil
		}
		return fmt.Errorf("installing runtime directory %s: %w", dir, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	syncDir(parent)
	return nil
}

func populate(dir string, srcs []source) error {
	var stamp strings.Builder
	for _, s := range srcs {
		n, err := copyFile(s.path, filepath.Join(dir, s.name))
		if err != nil {
			return fmt.Errorf("copying %s into the runtime directory: %w", s.path, err)
		}
		fmt.Fprintf(&stamp, "%s %d\n", s.name, n)
	}
	if err := writeSynced(filepath.Join(dir, stampName), []byte(stamp.String()), 0o644); err != nil {
		return fmt.Errorf("writing runtime directory stamp: %w", err)
	}
	syncDir(dir)
	return nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src) // follows symlinks: the directory holds real copies
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()|0o444)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// replaceable refuses to move aside an existing path that is not a damaged
// runtime directory of ours (no stamp) unless it is an empty directory: a
// mistaken NACRE_RUNTIME_DIR must never make nacre remove someone's files.
func replaceable(dir string) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if _, err := os.Lstat(filepath.Join(dir, stampName)); err == nil {
			return nil
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s exists and is %w (it has no %s file): remove it or set %s to another path", dir, ErrNotRuntimeDir, stampName, EnvDir)
}

// errIncomplete is returned by complete for a directory that must be rebuilt.
var errIncomplete = errors.New("runtime directory incomplete")

// complete checks dir against its stamp: every listed file is a regular
// file of the recorded size, and the loader and libc are among them.
func complete(dir string) error {
	f, err := os.Open(filepath.Join(dir, stampName))
	if err != nil {
		return errIncomplete
	}
	defer f.Close()
	have := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, sizeS, ok := strings.Cut(sc.Text(), " ")
		size, err := strconv.ParseInt(sizeS, 10, 64)
		if !ok || err != nil || name == "" || strings.Contains(name, "/") {
			return errIncomplete
		}
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
			return errIncomplete
		}
		have[name] = true
	}
	if sc.Err() != nil || !have[LoaderName()] {
		return errIncomplete
	}
	for _, n := range requiredLibs {
		if !have[n] {
			return errIncomplete
		}
	}
	return nil
}
