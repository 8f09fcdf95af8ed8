package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// ErrNoPython is wrapped when a template uses python.* and the interpreter
// cannot be run.
var ErrNoPython = errors.New("python interpreter not available")

// pyQuery prints what gen_jinja_env.py reads from sysconfig, as JSON.
const pyQuery = `import json, pathlib, sys, sysconfig
print(json.dumps({
 "paths": sysconfig.get_paths(),
 "distlib": str(pathlib.Path(sysconfig.get_path("stdlib", vars={"py_version_short": sys.version_info[0]})) / "dist-packages"),
 "config_vars": sysconfig.get_config_vars(),
 "impl": {"name": sys.implementation.name, "cache_tag": sys.implementation.cache_tag,
          "version": list(sys.implementation.version[:3]), "repr": repr(sys.implementation)},
}, default=str))`

// pyCall runs one sysconfig function with JSON arguments.
const pyCall = `import json, sys, sysconfig
a = json.loads(sys.argv[1])
print(json.dumps(getattr(sysconfig, a["fn"])(*a["args"], **a["kw"]), default=str))`

// pySysPath prints sys.path NUL-separated, like python_get_sys_path.
const pySysPath = `import sys; print('\0'.join(p for p in sys.path if p), end='')`

// pythonNS is the "python" global. The interpreter is queried only when a
// template first uses it.
type pythonNS struct {
	interp string
	once   *sync.Once
	info   *Dict
	err    error
}

func (p *pythonNS) typeName() string { return "dict" }

// runPython runs interp; what names the template feature for error messages.
func runPython(what, interp string, args ...string) ([]byte, error) {
	cmd := exec.Command(interp, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			hint := "install python3 or name another interpreter with --python"
			if what == "python.get_sys_path" {
				hint = "its argument must be a Python interpreter"
			}
			return nil, &evalError{msg: what + ": cannot run " + interp + " (" + hint + "): " + err.Error(), err: ErrNoPython}
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, &evalError{msg: what + ": " + interp + " failed: " + err.Error() + ": " + msg, err: err}
	}
	return out, nil
}

func (p *pythonNS) load() (*Dict, error) {
	p.once.Do(func() {
		out, err := runPython("python.*", p.interp, "-c", pyQuery)
		if err != nil {
			p.err = err
			return
		}
		v, err := decodeJSON(out)
		if err != nil {
			p.err = errf("python.*: cannot parse output of %s: %v", p.interp, err)
			return
		}
		d, ok := v.(*Dict)
		if !ok {
			p.err = errf("python.*: unexpected output of %s", p.interp)
			return
		}
		p.info = d
	})
	return p.info, p.err
}

func (p *pythonNS) getAttr(name string) (any, bool, error) {
	field := func(path ...string) (any, bool, error) {
		d, err := p.load()
		if err != nil {
			return nil, false, err
		}
		var v any = d
		for _, k := range path {
			dd, ok := v.(*Dict)
			if !ok {
				return nil, false, nil
			}
			if v, ok = dd.get(k); !ok {
				return nil, false, nil
			}
		}
		return v, true, nil
	}
	asPath := func(v any, ok bool, err error) (any, bool, error) {
		if s, isStr := v.(string); isStr {
			return newPath(s), ok, err
		}
		return v, ok, err
	}
	switch name {
	case "stdlib", "platstdlib", "purelib":
		return asPath(field("paths", name))
	case "distlib":
		return asPath(field("distlib"))
	case "ext_suffix":
		v, ok, err := field("config_vars", "EXT_SUFFIX")
		if err == nil && !ok {
			return nil, true, nil
		}
		return v, ok, err
	case "implementation":
		v, ok, err := field("impl")
		if err != nil || !ok {
			return v, ok, err
		}
		return &pyImpl{d: v.(*Dict)}, true, nil
	case "get_config_var":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "name")
			if err != nil {
				return nil, err
			}
			n, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			v, ok, err := field("config_vars", n)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, nil
			}
			return v, nil
		}), true, nil
	case "get_path":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if len(args) == 1 && len(kw) == 0 {
				n, err := strArg(name, args[0])
				if err != nil {
					return nil, err
				}
				v, ok, err := field("paths", n)
				if err != nil {
					return nil, err
				}
				if ok {
					return v, nil
				}
			}
			return p.call("get_path", args, kw)
		}), true, nil
	case "get_paths":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if len(args) == 0 && len(kw) == 0 {
				v, _, err := field("paths")
				if err != nil {
					return nil, err
				}
				d := v.(*Dict)
				cp := newDict()
				for _, k := range d.keys {
					cp.set(k, d.m[k])
				}
				return cp, nil
			}
			return p.call("get_paths", args, kw)
		}), true, nil
	case "get_sys_path":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "interpreter", "include_nonexisting")
			if err != nil {
				return nil, err
			}
			interp, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			all, _ := truth(orDefault(a[1], false))
			out, err := runPython("python.get_sys_path", interp, "-c", pySysPath)
			if err != nil {
				return nil, err
			}
			l := &List{}
			for _, s := range strings.Split(string(out), "\x00") {
				if s == "" {
					continue
				}
				if !all {
					if _, err := os.Stat(s); err != nil {
						continue
					}
				}
				l.items = append(l.items, newPath(s))
			}
			return l, nil
		}), true, nil
	}
	return nil, false, nil
}

// call runs sysconfig.fn(*args, **kw) in the interpreter.
func (p *pythonNS) call(fn string, args []any, kw map[string]any) (any, error) {
	req := newDict()
	req.set("fn", fn)
	req.set("args", &List{items: args})
	kd := newDict()
	for k, v := range kw {
		kd.set(k, v)
	}
	req.set("kw", kd)
	var b strings.Builder
	if err := writeJSON(&b, req); err != nil {
		return nil, errf("python.%s: arguments must be plain values: %v", fn, err)
	}
	out, err := runPython("python."+fn, p.interp, "-c", pyCall, b.String())
	if err != nil {
		return nil, err
	}
	return decodeJSON(out)
}

// pyImpl is sys.implementation.
type pyImpl struct{ d *Dict }

func (p *pyImpl) typeName() string { return "SimpleNamespace" }
func (p *pyImpl) pyStr() (string, error) {
	v, _ := p.d.get("repr")
	s, _ := v.(string)
	return s, nil
}
func (p *pyImpl) getAttr(name string) (any, bool, error) {
	if name == "repr" {
		return nil, false, nil
	}
	v, ok := p.d.get(name)
	if l, isList := v.(*List); isList {
		return &List{items: l.items, tuple: true}, ok, nil
	}
	return v, ok, nil
}

// decodeJSON converts JSON into template values, keeping object key order.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '[':
			l := &List{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, v)
			}
			_, err := dec.Token()
			return l, err
		case '{':
			d := newDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				d.set(kt.(string), v)
			}
			_, err := dec.Token()
			return d, err
		}
		return nil, errors.New("unexpected JSON delimiter")
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i), nil
		}
		f, err := x.Float64()
		return f, err
	case string, bool, nil:
		return x, nil
	}
	return nil, errors.New("unexpected JSON token")
}
