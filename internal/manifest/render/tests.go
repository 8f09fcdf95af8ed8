package render

import "strings"

// Jinja tests ("x is defined", "n is divisibleby 3").

type testFn func(v any, args []any) (bool, error)

var tests map[string]testFn

func init() {
	cmp := func(op string) testFn {
		return func(v any, args []any) (bool, error) {
			if len(args) != 1 {
				return false, errf("test needs one argument")
			}
			return compareOp(op, v, args[0])
		}
	}
	tests = map[string]testFn{
		"none":    func(v any, _ []any) (bool, error) { return v == nil, nil },
		"boolean": func(v any, _ []any) (bool, error) { _, ok := v.(bool); return ok, nil },
		"true":    func(v any, _ []any) (bool, error) { return v == true, nil },
		"false":   func(v any, _ []any) (bool, error) { return v == false, nil },
		"integer": func(v any, _ []any) (bool, error) { _, ok := v.(int); return ok, nil },
		"float":   func(v any, _ []any) (bool, error) { _, ok := v.(float64); return ok, nil },
		"number": func(v any, _ []any) (bool, error) {
			switch v.(type) {
			case int, float64, bool:
				return true, nil
			}
			return false, nil
		},
		"string":  func(v any, _ []any) (bool, error) { _, ok := v.(string); return ok, nil },
		"mapping": func(v any, _ []any) (bool, error) { _, ok := v.(*Dict); return ok, nil },
		"iterable": func(v any, _ []any) (bool, error) {
			switch v.(type) {
			case string, *List, *Dict:
				return true, nil
			}
			return false, nil
		},
		"sequence": func(v any, _ []any) (bool, error) {
			switch v.(type) {
			case string, *List, *Dict:
				return true, nil
			}
			return false, nil
		},
		"callable": func(v any, _ []any) (bool, error) {
			switch v.(type) {
			case *Func, caller:
				return true, nil
			}
			return false, nil
		},
		"sameas": func(v any, args []any) (bool, error) {
			if len(args) != 1 {
				return false, errf("sameas needs one argument")
			}
			return v == args[0] || v == nil && args[0] == nil, nil
		},
		"eq": cmp("=="), "equalto": cmp("=="), "==": cmp("=="),
		"ne": cmp("!="), "!=": cmp("!="),
		"lt": cmp("<"), "lessthan": cmp("<"), "<": cmp("<"),
		"le": cmp("<="), "<=": cmp("<="),
		"gt": cmp(">"), "greaterthan": cmp(">"), ">": cmp(">"),
		"ge": cmp(">="), ">=": cmp(">="),
		"in": func(v any, args []any) (bool, error) {
			if len(args) != 1 {
				return false, errf("in test needs one argument")
			}
			return contains(args[0], v)
		},
		"even": func(v any, _ []any) (bool, error) {
			i, ok := asInt(v)
			if !ok {
				return false, errf("even test needs an integer, not '%s'", typeName(v))
			}
			return i%2 == 0, nil
		},
		"odd": func(v any, _ []any) (bool, error) {
			i, ok := asInt(v)
			if !ok {
				return false, errf("odd test needs an integer, not '%s'", typeName(v))
			}
			return i%2 != 0, nil
		},
		"divisibleby": func(v any, args []any) (bool, error) {
			if len(args) != 1 {
				return false, errf("divisibleby needs one argument")
			}
			i, ok1 := asInt(v)
			d, ok2 := asInt(args[0])
			if !ok1 || !ok2 {
				return false, errf("divisibleby needs integers")
			}
			if d == 0 {
				return false, errf("integer division or modulo by zero")
			}
			return i%d == 0, nil
		},
		"lower": func(v any, _ []any) (bool, error) {
			s, ok := v.(string)
			return ok && s == strings.ToLower(s), nil
		},
		"upper": func(v any, _ []any) (bool, error) {
			s, ok := v.(string)
			return ok && s == strings.ToUpper(s), nil
		},
		"escaped": func(v any, _ []any) (bool, error) { return false, nil },
	}
}

func (s *state) applyTest(e *testExpr, f *frame) (any, error) {
	v, err := s.eval(e.e, f)
	if err != nil {
		return nil, err
	}
	args, _, err := s.evalArgs(e.args, nil, f)
	if err != nil {
		return nil, err
	}
	var res bool
	switch e.name {
	case "defined":
		_, undef := v.(*Undefined)
		res = !undef
	case "undefined":
		_, res = v.(*Undefined)
	default:
		fn, ok := tests[e.name]
		if !ok {
			return nil, &evalError{msg: "no test named '" + e.name + "'", err: ErrSyntax}
		}
		if u, ok := v.(*Undefined); ok {
			return nil, undefinedErr(u)
		}
		if res, err = fn(v, args); err != nil {
			return nil, err
		}
	}
	return res != e.negate, nil
}

// higherOrder implements map, select, reject, selectattr and rejectattr.
func (s *state) higherOrder(name string, v any, args []any, kw map[string]any) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	out := &List{}
	if name == "map" {
		if a, ok := kw["attribute"]; ok {
			def, hasDef := kw["default"]
			for _, it := range items {
				r, err := attrPath(it, a)
				if err != nil {
					return nil, err
				}
				if _, undef := r.(*Undefined); undef && hasDef {
					r = def
				}
				out.items = append(out.items, r)
			}
			return out, nil
		}
		if len(args) == 0 {
			return nil, errf("map requires a filter argument")
		}
		fname, err := strArg("map", args[0])
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			var r any
			switch fname {
			case "default", "d":
				r, err = fDefault(it, args[1:], kw)
			default:
				fn, ok := filters[fname]
				if !ok {
					return nil, errf("no filter named '%s'", fname)
				}
				r, err = fn(it, args[1:], kw)
			}
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, r)
		}
		return out, nil
	}
	byAttr := name == "selectattr" || name == "rejectattr"
	want := name == "select" || name == "selectattr"
	var attr any
	if byAttr {
		if len(args) == 0 {
			return nil, errf("%s requires an attribute name", name)
		}
		attr, args = args[0], args[1:]
	}
	var test testFn
	if len(args) > 0 {
		tname, err := strArg(name, args[0])
		if err != nil {
			return nil, err
		}
		args = args[1:]
		switch tname {
		case "defined", "undefined":
			test = func(v any, _ []any) (bool, error) {
				_, u := v.(*Undefined)
				return u == (tname == "undefined"), nil
			}
		default:
			var ok bool
			if test, ok = tests[tname]; !ok {
				return nil, errf("no test named '%s'", tname)
			}
		}
	}
	for _, it := range items {
		x := it
		if byAttr {
			if x, err = attrPath(it, attr); err != nil {
				return nil, err
			}
		}
		var ok bool
		if test == nil {
			ok, err = truth(x)
		} else {
			ok, err = test(x, args)
		}
		if err != nil {
			return nil, err
		}
		if ok == want {
			out.items = append(out.items, it)
		}
	}
	return out, nil
}
