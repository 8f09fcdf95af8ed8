package shield

import (
	"log/slog"
	"os"
	"path"
	"path/filepath"

	"github.com/nacre-tee/nacre/internal/fileserver"
	"github.com/nacre-tee/nacre/internal/runtimedir"
	"github.com/nacre-tee/nacre/internal/sandbox"
)

// An encrypted fs.root (Gramine: fs.root = { type = "encrypted", uri,
// key_name }) is served by pffs as the sandbox's root. The file server
// still serves every chroot mount (verified trusted files, allowed files),
// but from the sandbox's staging area: the sandbox binds the top of each
// chroot mount's subtree onto the encrypted root, which shows the mount
// points as virtual directories (pffs SetMountPoints) instead of creating
// them in the host directory. tmpfs and encrypted mounts go on top, in
// manifest order, as with any root.

// rootBinds lists the file-server paths the sandbox binds onto an encrypted
// root: each chroot mount that no other chroot mount contains, and the
// directory of the ELF interpreter alias (interpreterAliases) when no chroot
// mount serves the interpreter, which the file server then always shows.
func (l *Loaded) rootBinds(fc *fileserver.Config, log *slog.Logger) []string {
	var cand []string
	for _, mt := range fc.Mounts {
		cand = append(cand, mt.Path)
	}
	if dir, ok := interpreterDir(fc.Mounts); ok {
		cand = append(cand, dir)
		fc.MountPoints = append(fc.MountPoints, dir)
	}
	binds := outermost(cand)
	if l.Manifest.Sys.EnableExtraRuntimeDomainNamesConf && !covered("/etc/hostname", binds) {
		log.Warn("with an encrypted fs.root, the synthesized /etc/hostname and /etc/resolv.conf are visible only when a chroot mount covers /etc")
	}
	return binds
}

// interpreterDir is the directory of the interpreter alias when the
// runtime directory will provide it (same rules as interpreterAliases, up to
// the trusted set, which is not known yet).
func interpreterDir(mounts []fileserver.Mount) (string, bool) {
	interp := runtimedir.Interpreter()
	if interp == "" || covered(interp, mountPaths(mounts)) {
		return "", false
	}
	for _, mt := range mounts {
		if _, err := os.Stat(filepath.Join(mt.Host, filepath.Base(interp))); err == nil {
			return path.Dir(interp), true
		}
	}
	return "", false
}

func mountPaths(mounts []fileserver.Mount) []string {
	var ps []string
	for _, mt := range mounts {
		if mt.Path != "/" {
			ps = append(ps, mt.Path)
		}
	}
	return ps
}

// covered reports whether p is one of dirs or below one.
func covered(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || (len(p) > len(d) && p[:len(d)] == d && p[len(d)] == '/') {
			return true
		}
	}
	return false
}

// outermost drops duplicates and the paths below another path of ps,
// keeping the first-seen order.
func outermost(ps []string) []string {
	var out []string
	for i, p := range ps {
		inner := false
		for j, q := range ps {
			if j != i && p != q && covered(p, []string{q}) {
				inner = true
			}
		}
		if !inner && !covered(p, out) {
			out = append(out, p)
		}
	}
	return out
}

// rootMountPoints are the paths an encrypted root must show as directories:
// the binds, every other mount outside /dev, /proc and /dev.
func rootMountPoints(mounts []sandbox.Mount) []string {
	ps := []string{"/proc", "/dev"}
	ps = append(ps, mounts[0].Binds...)
	for _, m := range mounts[1:] {
		if !covered(m.Path, []string{"/dev"}) {
			ps = append(ps, m.Path)
		}
	}
	return ps
}
