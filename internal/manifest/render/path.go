package render

import (
	"os"
	"path/filepath"
	"strings"
)

// newPath normalises like pathlib.PurePosixPath: repeated and trailing
// slashes and "." components go away, ".." stays.
func newPath(s string) Path {
	if s == "" {
		return "."
	}
	abs := strings.HasPrefix(s, "/")
	var parts []string
	for _, p := range strings.Split(s, "/") {
		if p == "" || p == "." {
			continue
		}
		parts = append(parts, p)
	}
	j := strings.Join(parts, "/")
	switch {
	case abs && strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "///"):
		return Path("//" + j) // POSIX leaves exactly two leading slashes alone
	case abs:
		return Path("/" + j)
	case j == "":
		return "."
	}
	return Path(j)
}

func (p Path) join(other any) (any, error) {
	o, err := strArg("joinpath", other)
	if err != nil {
		return nil, errf("unsupported operand type(s) for /: 'PosixPath' and '%s'", typeName(other))
	}
	if strings.HasPrefix(o, "/") {
		return newPath(o), nil
	}
	if p == "." {
		return newPath(o), nil
	}
	return newPath(string(p) + "/" + o), nil
}

func (p Path) truediv(other any) (any, error) { return p.join(other) }

func (p Path) name() string {
	if p == "/" || p == "." {
		return ""
	}
	return filepath.Base(string(p))
}

func pathAttr(p Path, name string) (any, bool, error) {
	pred := func(f func(os.FileInfo, error) bool, follow bool) (any, bool, error) {
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if _, err := bind(name, args, kw, 0); err != nil {
				return nil, err
			}
			var fi os.FileInfo
			var err error
			if follow {
				fi, err = os.Stat(string(p))
			} else {
				fi, err = os.Lstat(string(p))
			}
			return f(fi, err), nil
		}), true, nil
	}
	nm := p.name()
	switch name {
	case "exists":
		return pred(func(_ os.FileInfo, err error) bool { return err == nil }, true)
	case "is_dir":
		return pred(func(fi os.FileInfo, err error) bool { return err == nil && fi.IsDir() }, true)
	case "is_file":
		return pred(func(fi os.FileInfo, err error) bool { return err == nil && fi.Mode().IsRegular() }, true)
	case "is_symlink":
		return pred(func(fi os.FileInfo, err error) bool { return err == nil && fi.Mode()&os.ModeSymlink != 0 }, false)
	case "is_absolute":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			return strings.HasPrefix(string(p), "/"), nil
		}), true, nil
	case "name":
		return nm, true, nil
	case "suffix":
		if i := strings.LastIndexByte(nm, '.'); i > 0 && i < len(nm)-1 {
			return nm[i:], true, nil
		}
		return "", true, nil
	case "stem":
		if i := strings.LastIndexByte(nm, '.'); i > 0 && i < len(nm)-1 {
			return nm[:i], true, nil
		}
		return nm, true, nil
	case "parent":
		if p == "/" || p == "." {
			return p, true, nil
		}
		return newPath(filepath.Dir(string(p))), true, nil
	case "parts":
		t := &List{tuple: true}
		if strings.HasPrefix(string(p), "/") {
			t.items = append(t.items, "/")
		}
		for _, s := range strings.Split(strings.TrimLeft(string(p), "/"), "/") {
			if s != "" && s != "." {
				t.items = append(t.items, s)
			}
		}
		return t, true, nil
	case "as_posix":
		return method(name, func(args []any, kw map[string]any) (any, error) { return string(p), nil }), true, nil
	case "joinpath":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			var cur any = p
			for _, a := range args {
				var err error
				if cur, err = cur.(Path).join(a); err != nil {
					return nil, err
				}
			}
			return cur, nil
		}), true, nil
	case "resolve", "absolute":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			abs, err := filepath.Abs(string(p))
			if err != nil {
				return nil, wrapf(err, "%s(%s)", name, p)
			}
			if name == "resolve" {
				if r, err := filepath.EvalSymlinks(abs); err == nil {
					abs = r
				}
			}
			return newPath(abs), nil
		}), true, nil
	case "with_suffix", "with_name":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "value")
			if err != nil {
				return nil, err
			}
			v, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			dir := filepath.Dir(string(p))
			if name == "with_name" {
				return newPath(dir + "/" + v), nil
			}
			stem := nm
			if i := strings.LastIndexByte(nm, '.'); i > 0 && i < len(nm)-1 {
				stem = nm[:i]
			}
			return newPath(dir + "/" + stem + v), nil
		}), true, nil
	case "relative_to":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "other")
			if err != nil {
				return nil, err
			}
			o, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			base := string(newPath(o))
			switch {
			case string(p) == base:
				return Path("."), nil
			case base == "/" && strings.HasPrefix(string(p), "/"):
				return newPath(string(p)[1:]), nil
			case strings.HasPrefix(string(p), base+"/"):
				return newPath(string(p)[len(base)+1:]), nil
			}
			return nil, errf("'%s' is not in the subpath of '%s'", p, base)
		}), true, nil
	}
	return nil, false, nil
}
