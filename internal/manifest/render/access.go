package render

// Attribute and item lookup, argument binding, and list/dict methods.

import (
	"fmt"
	"strconv"
)

// missing marks an omitted optional argument.
type missingArg struct{}

var missing any = missingArg{}

// bind maps positional and keyword arguments onto params; the first required
// params must be given, the rest default to missing.
func bind(fname string, args []any, kw map[string]any, required int, params ...string) ([]any, error) {
	if len(args) > len(params) {
		return nil, errf("%s() takes at most %d arguments (%d given)", fname, len(params), len(args))
	}
	out := make([]any, len(params))
	for i := range out {
		out[i] = missing
	}
	copy(out, args)
	for k, v := range kw {
		found := false
		for i, p := range params {
			if p == k {
				if i < len(args) {
					return nil, errf("%s() got multiple values for argument '%s'", fname, k)
				}
				out[i] = v
				found = true
			}
		}
		if !found {
			return nil, errf("%s() got an unexpected keyword argument '%s'", fname, k)
		}
	}
	for i := 0; i < required; i++ {
		if out[i] == missing {
			return nil, errf("%s() missing required argument '%s'", fname, params[i])
		}
	}
	return out, nil
}

func strArg(fname string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case Path:
		return string(x), nil
	case *Undefined:
		return "", undefinedErr(x)
	}
	return "", errf("%s() argument must be str, not '%s'", fname, typeName(v))
}

func intArg(fname string, v any) (int, error) {
	if i, ok := asInt(v); ok {
		return i, nil
	}
	return 0, errf("%s() argument must be int, not '%s'", fname, typeName(v))
}

func method(name string, fn func(args []any, kw map[string]any) (any, error)) *Func {
	return &Func{name: name, fn: fn}
}

// getAttr is Jinja's environment.getattr: attribute first, then item.
func getAttr(obj any, name string) (any, error) {
	var v any
	var ok bool
	var err error
	switch x := obj.(type) {
	case string:
		v, ok = strMethod(x, name)
	case Path:
		v, ok, err = pathAttr(x, name)
	case *List:
		v, ok = listMethod(x, name)
	case *Dict:
		if v, ok = dictMethod(x, name); !ok {
			v, ok = x.get(name)
		}
	case attrGetter:
		v, ok, err = x.getAttr(name)
	case *Undefined:
		return nil, undefinedErr(x)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		desc := "'" + typeName(obj) + " object'"
		return &Undefined{name: name, obj: desc}, nil
	}
	return v, nil
}

// getItem is Jinja's environment.getitem: item first, then attribute.
func getItem(obj any, key any) (any, error) {
	switch x := obj.(type) {
	case *List:
		if i, ok := asInt(key); ok {
			if i < 0 {
				i += len(x.items)
			}
			if i < 0 || i >= len(x.items) {
				return &Undefined{name: strconv.Itoa(i), msg: fmt.Sprintf("'%s object' has no element %d", typeName(obj), i)}, nil
			}
			return x.items[i], nil
		}
	case string:
		if i, ok := asInt(key); ok {
			r := []rune(x)
			if i < 0 {
				i += len(r)
			}
			if i < 0 || i >= len(r) {
				return &Undefined{name: strconv.Itoa(i), msg: fmt.Sprintf("'str object' has no element %d", i)}, nil
			}
			return string(r[i]), nil
		}
	case *Dict:
		if v, ok := x.get(key); ok {
			return v, nil
		}
	case *Undefined:
		return nil, undefinedErr(x)
	}
	if ks, ok := key.(string); ok {
		return getAttr(obj, ks)
	}
	ks, _ := repr(key)
	return &Undefined{name: ks, msg: fmt.Sprintf("'%s object' has no element %s", typeName(obj), ks)}, nil
}

func listMethod(l *List, name string) (any, bool) {
	switch name {
	case "append":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "object")
			if err != nil {
				return nil, err
			}
			if len(l.items) >= maxCollection {
				return nil, errf("list too long")
			}
			l.items = append(l.items, a[0])
			return nil, nil
		}), !l.tuple
	case "extend":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "iterable")
			if err != nil {
				return nil, err
			}
			items, err := iterate(a[0])
			if err != nil {
				return nil, err
			}
			if len(l.items)+len(items) > maxCollection {
				return nil, errf("list too long")
			}
			l.items = append(l.items, items...)
			return nil, nil
		}), !l.tuple
	case "index":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "value")
			if err != nil {
				return nil, err
			}
			for i, it := range l.items {
				if equal(it, a[0]) {
					return i, nil
				}
			}
			s, _ := repr(a[0])
			return nil, errf("%s is not in list", s)
		}), true
	case "count":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "value")
			if err != nil {
				return nil, err
			}
			n := 0
			for _, it := range l.items {
				if equal(it, a[0]) {
					n++
				}
			}
			return n, nil
		}), true
	}
	return nil, false
}

func dictMethod(d *Dict, name string) (any, bool) {
	switch name {
	case "get":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "key", "default")
			if err != nil {
				return nil, err
			}
			if v, ok := d.get(a[0]); ok {
				return v, nil
			}
			if a[1] == missing {
				return nil, nil
			}
			return a[1], nil
		}), true
	case "items":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if _, err := bind(name, args, kw, 0); err != nil {
				return nil, err
			}
			out := &List{}
			for _, k := range d.keys {
				out.items = append(out.items, newTuple(k, d.m[k]))
			}
			return out, nil
		}), true
	case "keys":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if _, err := bind(name, args, kw, 0); err != nil {
				return nil, err
			}
			return &List{items: append([]any(nil), d.keys...)}, nil
		}), true
	case "values":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if _, err := bind(name, args, kw, 0); err != nil {
				return nil, err
			}
			out := &List{}
			for _, k := range d.keys {
				out.items = append(out.items, d.m[k])
			}
			return out, nil
		}), true
	case "update":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, nil, 0, "other")
			if err != nil {
				return nil, err
			}
			if o, ok := a[0].(*Dict); ok {
				for _, k := range o.keys {
					d.set(k, o.m[k])
				}
			} else if a[0] != missing {
				return nil, errf("update() argument must be a dict, not '%s'", typeName(a[0]))
			}
			for k, v := range kw {
				d.set(k, v)
			}
			return nil, nil
		}), true
	}
	return nil, false
}
