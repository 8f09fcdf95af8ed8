package runtimedir

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

var interpOnce = sync.OnceValue(func() string {
	for _, probe := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		if p, err := readInterp(probe); err == nil && p != "" {
			return p
		}
	}
	switch runtime.GOARCH {
	case "arm64":
		return "/lib/ld-linux-aarch64.so.1"
	case "riscv64":
		return "/lib/ld-linux-riscv64-lp64d.so.1"
	}
	return "/lib64/ld-linux-x86-64.so.2"
})

// Interpreter is the ELF interpreter path dynamically linked programs of this
// machine request (PT_INTERP of /bin/sh, e.g. /lib64/ld-linux-x86-64.so.2).
func Interpreter() string { return interpOnce() }

// LoaderName is the interpreter's file name inside the runtime directory.
func LoaderName() string { return filepath.Base(Interpreter()) }

func readInterp(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return interpOf(f)
}

func interpOf(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		if p.Filesz == 0 || p.Filesz > 4096 {
			return "", fmt.Errorf("PT_INTERP of %d bytes: %w", p.Filesz, ErrNotELF)
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("reading PT_INTERP: %w", err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}

// multiarchTriplet is Debian's library subdirectory for this architecture.
func multiarchTriplet() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	case "riscv64":
		return "riscv64-linux-gnu"
	case "386":
		return "i386-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// SystemLibDirs lists the directories the dynamic loader searches after
// LD_LIBRARY_PATH and RUNPATH: those configured in /etc/ld.so.conf (the
// source of ld.so.cache), then the loader's built-in trusted directories.
func SystemLibDirs() []string { return systemDirsOnce() }

var systemDirsOnce = sync.OnceValue(func() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, d := range readLdSoConf("/etc/ld.so.conf", 0) {
		add(d)
	}
	t := multiarchTriplet()
	for _, d := range []string{"/lib/" + t, "/usr/lib/" + t, "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
		add(d)
	}
	return dirs
})

func readLdSoConf(path string, depth int) []string {
	if depth > 8 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "include" {
			for _, pat := range fields[1:] {
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(filepath.Dir(path), pat)
				}
				matches, _ := filepath.Glob(pat)
				sort.Strings(matches)
				for _, m := range matches {
					dirs = append(dirs, readLdSoConf(m, depth+1)...)
				}
			}
			continue
		}
		for _, d := range fields {
			if strings.HasPrefix(d, "/") {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// resolver finds shared libraries the way the dynamic loader does.
type resolver struct {
	ldLibraryPath []string
	systemDirs    []string
	class         elf.Class
	machine       elf.Machine
}

// compatible reports whether path is an ELF object loadable into a process
// of the resolver's class and machine.
func (r *resolver) compatible(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == r.class && f.Machine == r.machine
}

func expandOrigin(dirs []string, origin string) []string {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		d = strings.ReplaceAll(d, "${ORIGIN}", origin)
		d = strings.ReplaceAll(d, "$ORIGIN", origin)
		if d == "" {
			d = "."
		}
		out = append(out, d)
	}
	return out
}

func splitPathList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ';' }) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// find resolves a DT_NEEDED name requested by obj (whose RPATH/RUNPATH are
// given) following ld.so's order: RPATH (object, then executable) unless the
// object has RUNPATH, LD_LIBRARY_PATH, RUNPATH, ld.so.cache/system dirs.
func (r *resolver) find(name string, objDir string, rpath, runpath, exeRpath []string) string {
	if strings.Contains(name, "/") {
		if r.compatible(name) {
			return name
		}
		return ""
	}
	var order []string
	if len(runpath) == 0 {
		order = append(order, expandOrigin(rpath, objDir)...)
		order = append(order, exeRpath...)
	}
	order = append(order, r.ldLibraryPath...)
	order = append(order, expandOrigin(runpath, objDir)...)
	order = append(order, r.systemDirs...)
	for _, d := range order {
		p := filepath.Join(d, name)
		if strings.HasPrefix(d, "/") {
			p = filepath.Clean(d + "/" + name)
		}
		if r.compatible(p) {
			return p
		}
	}
	return ""
}

func dynStrings(f *elf.File, tag elf.DynTag) []string {
	v, err := f.DynString(tag)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range v {
		out = append(out, splitPathList(s)...)
	}
	return out
}

// ErrNotELF is wrapped by LDD errors for files that are not ELF objects.
var ErrNotELF = errors.New("not an ELF file")

// LDD returns the sorted, de-duplicated paths of the shared libraries the
// given executables load at startup, including the ELF interpreter, like
// gramine-manifest's ldd(). env supplies LD_LIBRARY_PATH (nil = process
// environment). Statically linked programs contribute nothing; libraries
// the loader would not find are logged and skipped (ldd prints "not found").
func LDD(files []string, env map[string]string) (libs []string, err error) {
	// debug/elf is not hardened against every malformed file; a corrupt
	// binary must give an error, not crash nacre.
	defer func() {
		if r := recover(); r != nil {
			libs, err = nil, fmt.Errorf("ldd %s: %w: malformed ELF (%v)", strings.Join(files, " "), ErrNotELF, r)
		}
	}()
	var llp string
	if env == nil {
		llp = os.Getenv("LD_LIBRARY_PATH")
	} else {
		llp = env["LD_LIBRARY_PATH"]
	}
	set := map[string]bool{}
	for _, file := range files {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("ldd: %w", err)
		}
		f, err := elf.Open(file)
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w: %v", file, ErrNotELF, err)
		}
		r := &resolver{ldLibraryPath: splitPathList(llp), systemDirs: SystemLibDirs(), class: f.Class, machine: f.Machine}
		libs, err := r.closure(file, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			set[l] = true
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// closure walks DT_NEEDED breadth-first from the executable.
func (r *resolver) closure(file string, exe *elf.File) ([]string, error) {
	interp, err := interpOf(exe)
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", file, err)
	}
	needed, _ := exe.DynString(elf.DT_NEEDED)
	if interp == "" && len(needed) == 0 {
		return nil, nil // static
	}
	var libs []string
	loaded := map[string]string{} // soname or NEEDED name -> path
	if interp != "" {
		libs = append(libs, interp)
		loaded[filepath.Base(interp)] = interp
		if f, err := elf.Open(interp); err == nil {
			if so, _ := f.DynString(elf.DT_SONAME); len(so) > 0 {
				loaded[so[0]] = interp
			}
			f.Close()
		}
	}
	exeDir := filepath.Dir(file)
	exeRpath := expandOrigin(dynStrings(exe, elf.DT_RPATH), exeDir)
	if len(dynStrings(exe, elf.DT_RUNPATH)) > 0 {
		exeRpath = nil
	}
	type item struct {
		path string
		f    *elf.File
	}
	queue := []item{{file, exe}}
	var opened []*elf.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		names, _ := it.f.DynString(elf.DT_NEEDED)
		rpath := dynStrings(it.f, elf.DT_RPATH)
		runpath := dynStrings(it.f, elf.DT_RUNPATH)
		for _, n := range names {
			if _, ok := loaded[n]; ok {
				continue
			}
			p := r.find(n, filepath.Dir(it.path), rpath, runpath, exeRpath)
			if p == "" {
				slog.Warn("ldd: library not found", "library", n, "needed_by", it.path)
				loaded[n] = ""
				continue
			}
			loaded[n] = p
			libs = append(libs, p)
			f, err := elf.Open(p)
			if err != nil {
				continue
			}
			opened = append(opened, f)
			if so, _ := f.DynString(elf.DT_SONAME); len(so) > 0 {
				if _, ok := loaded[so[0]]; !ok {
					loaded[so[0]] = p
				}
			}
			queue = append(queue, item{p, f})
		}
	}
	return libs, nil
}

// findSystemLib resolves a library name in the system directories only (no
// LD_LIBRARY_PATH), for the machine of the interpreter.
func findSystemLib(name string, class elf.Class, machine elf.Machine) string {
	r := &resolver{systemDirs: SystemLibDirs(), class: class, machine: machine}
	return r.find(name, "", nil, nil, nil)
}
