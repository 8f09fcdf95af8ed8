// Package render owns the rendering of Gramine manifest templates
// (*.manifest.template): a Jinja2-compatible template engine configured like
// gramine-manifest (StrictUndefined, no autoescaping, trailing newline kept)
// with the same globals (gramine.*, python.*, env, ldd).
//
// It is a self-contained engine rather than a third-party Jinja port because
// templates need Python semantics that Go ports do not give faithfully:
// pathlib objects whose methods are called from templates (path.is_dir()),
// Python str methods, StrictUndefined errors that name the variable, and
// Python's str() of values.
package render

import (
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nacre-tee/nacre/internal/runtimedir"
)

// Options configure a Renderer.
type Options struct {
	// Defines are the template variables (gramine-manifest -D). Values may be
	// string, bool, int, float64, []string or map[string]string.
	Defines map[string]any
	// Env is the "env" mapping; nil means the process environment.
	Env map[string]string
	// RuntimeDir returns the directory behind gramine.runtimedir(libc);
	// nil means runtimedir.Ensure.
	RuntimeDir func(libc string) (string, error)
	// PkgLibDir is gramine.pkglibdir (gramine.libos lives in it); empty
	// means runtimedir.PkgLibDir().
	PkgLibDir string
	// Python is the interpreter queried for python.* (default "python3").
	Python string
}

// Renderer renders templates; it may be reused for several templates and
// caches the Python interpreter query.
type Renderer struct {
	opts   Options
	env    *Dict
	python *pythonNS
}

// New returns a Renderer.
func New(opts Options) *Renderer {
	if opts.RuntimeDir == nil {
		opts.RuntimeDir = runtimedir.Ensure
	}
	if opts.PkgLibDir == "" {
		opts.PkgLibDir = runtimedir.PkgLibDir()
	}
	if opts.Python == "" {
		opts.Python = "python3"
	}
	r := &Renderer{opts: opts}
	r.env = newDict()
	if opts.Env != nil {
		keys := make([]string, 0, len(opts.Env))
		for k := range opts.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.env.set(k, opts.Env[k])
		}
	} else {
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			r.env.set(k, v)
		}
	}
	r.python = &pythonNS{interp: opts.Python, once: new(sync.Once)}
	return r
}

// LibOS is the path gramine.libos renders to. nacre has no LibOS, so the
// file need not exist; manifest tooling drops it from trusted files.
func (r *Renderer) LibOS() string { return string(newPath(r.opts.PkgLibDir + "/libsysdb.so")) }

// Render renders the template src; name (usually the file name) is used in
// error messages, which have the form "name:line: message".
func (r *Renderer) Render(name string, src []byte) ([]byte, error) {
	if !utf8.Valid(src) {
		return nil, &Error{File: name, Msg: "template is not valid UTF-8", Err: ErrSyntax}
	}
	text := strings.ReplaceAll(string(src), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	nodes, err := parse(name, text)
	if err != nil {
		return nil, err
	}
	s := &state{file: name, globals: r.globals(), out: &strings.Builder{}}
	s.root = &frame{vars: map[string]any{}}
	for k, v := range r.opts.Defines {
		s.root.vars[k] = toValue(v)
	}
	if err := s.exec(nodes, s.root); err != nil {
		var le *Error
		if !errors.As(err, &le) {
			err = &Error{File: name, Msg: err.Error(), Err: err}
		}
		return nil, err
	}
	return []byte(s.out.String()), nil
}

// toValue converts Go values given in Options into template values.
func toValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int, float64, string, Path, *List, *Dict:
		return x
	case int64:
		return int(x)
	case []string:
		l := &List{}
		for _, s := range x {
			l.items = append(l.items, s)
		}
		return l
	case []any:
		l := &List{}
		for _, s := range x {
			l.items = append(l.items, toValue(s))
		}
		return l
	case map[string]string:
		d := newDict()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.set(k, x[k])
		}
		return d
	}
	return v
}

func (r *Renderer) globals() map[string]any {
	gramine := newDict()
	pkg := newPath(r.opts.PkgLibDir)
	gramine.set("libos", Path(r.LibOS()))
	gramine.set("pkglibdir", pkg)
	gramine.set("runtimedir", &runtimeDirObj{fn: r.opts.RuntimeDir})
	return map[string]any{
		"gramine": gramine,
		"python":  r.python,
		"env":     r.envCopy(), // templates may call env.update(); renders stay independent
		"ldd": &Func{name: "ldd", fn: func(args []any, kw map[string]any) (any, error) {
			if len(kw) > 0 {
				return nil, errf("ldd() takes no keyword arguments")
			}
			files := make([]string, len(args))
			for i, a := range args {
				s, err := strArg("ldd", a)
				if err != nil {
					return nil, err
				}
				files[i] = s
			}
			libs, err := ldd(r.envMap(), files)
			if err != nil {
				return nil, err
			}
			out := &List{}
			for _, l := range libs {
				out.items = append(out.items, l)
			}
			return out, nil
		}},
		"range":     &Func{name: "range", fn: builtinRange},
		"namespace": &Func{name: "namespace", fn: newNamespace},
		"dict": &Func{name: "dict", fn: func(args []any, kw map[string]any) (any, error) {
			if len(args) > 0 {
				return nil, errf("dict() supports keyword arguments only")
			}
			d := newDict()
			keys := make([]string, 0, len(kw))
			for k := range kw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				d.set(k, kw[k])
			}
			return d, nil
		}},
	}
}

func (r *Renderer) envCopy() *Dict {
	d := newDict()
	for _, k := range r.env.keys {
		d.set(k, r.env.m[k])
	}
	return d
}

func (r *Renderer) envMap() map[string]string {
	m := map[string]string{}
	for _, k := range r.env.keys {
		if s, ok := r.env.m[k].(string); ok {
			m[k.(string)] = s
		}
	}
	return m
}

func builtinRange(args []any, kw map[string]any) (any, error) {
	if len(kw) > 0 || len(args) == 0 || len(args) > 3 {
		return nil, errf("range() takes 1 to 3 integer arguments")
	}
	n := make([]int, len(args))
	for i, a := range args {
		v, ok := asInt(a)
		if !ok {
			return nil, errf("range() arguments must be integers, not '%s'", typeName(a))
		}
		n[i] = v
	}
	start, stop, step := 0, n[0], 1
	if len(n) >= 2 {
		start, stop = n[0], n[1]
	}
	if len(n) == 3 {
		step = n[2]
	}
	if step == 0 {
		return nil, errf("range() arg 3 must not be zero")
	}
	out := &List{}
	for i := start; step > 0 && i < stop || step < 0 && i > stop; i += step {
		if len(out.items) >= maxCollection {
			return nil, errf("range() too large (more than %d items)", maxCollection)
		}
		out.items = append(out.items, i)
	}
	return out, nil
}

// runtimeDirObj is gramine.runtimedir: callable with libc='glibc', and
// usable directly as a string or with "/".
type runtimeDirObj struct {
	fn func(libc string) (string, error)
}

func (r *runtimeDirObj) typeName() string { return "Runtimedir" }

func (r *runtimeDirObj) call(args []any, kw map[string]any) (any, error) {
	a, err := bind("runtimedir", args, kw, 0, "libc")
	if err != nil {
		return nil, err
	}
	libc := "glibc"
	if a[0] != missing {
		if libc, err = strArg("runtimedir", a[0]); err != nil {
			return nil, err
		}
	}
	dir, err := r.fn(libc)
	if err != nil {
		return nil, wrapf(err, "gramine.runtimedir(libc=%s)", quoteRepr(libc))
	}
	return newPath(dir), nil
}

func (r *runtimeDirObj) pyStr() (string, error) {
	p, err := r.call(nil, nil)
	if err != nil {
		return "", err
	}
	return string(p.(Path)), nil
}

func (r *runtimeDirObj) truediv(other any) (any, error) {
	p, err := r.call(nil, nil)
	if err != nil {
		return nil, err
	}
	return p.(Path).join(other)
}
