package render

// Expression evaluation.

// Limits that keep hostile templates (and the fuzzer) from exhausting memory
// or the stack; real manifests are far below them.
const (
	maxOutput     = 64 << 20
	maxCallDepth  = 200
	maxCollection = 1 << 20
	maxNesting    = 200
)

// eval evaluates an expression; errors carry the expression's line.
func (s *state) eval(e expr, f *frame) (any, error) {
	v, err := s.eval1(e, f)
	if err != nil {
		return nil, s.locate(err, e.ln())
	}
	return v, nil
}

// evalDefined evaluates e and fails if the result is undefined.
func (s *state) evalDefined(e expr, f *frame) (any, error) {
	v, err := s.eval(e, f)
	if err != nil {
		return nil, err
	}
	if u, ok := v.(*Undefined); ok {
		return nil, s.locate(undefinedErr(u), e.ln())
	}
	return v, nil
}

func (s *state) eval1(e expr, f *frame) (any, error) {
	switch e := e.(type) {
	case *constExpr:
		return e.v, nil
	case *nameExpr:
		return s.lookup(e.name, f), nil
	case *listExpr:
		items := make([]any, 0, len(e.items))
		for _, it := range e.items {
			v, err := s.evalDefined(it, f)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return &List{items: items, tuple: e.tuple}, nil
	case *dictExpr:
		d := newDict()
		for i := range e.keys {
			k, err := s.evalDefined(e.keys[i], f)
			if err != nil {
				return nil, err
			}
			if !hashable(k) {
				return nil, errf("unhashable type: '%s'", typeName(k))
			}
			v, err := s.evalDefined(e.vals[i], f)
			if err != nil {
				return nil, err
			}
			d.set(k, v)
		}
		return d, nil
	case *attrExpr:
		obj, err := s.evalDefined(e.obj, f)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, e.name)
	case *itemExpr:
		obj, err := s.evalDefined(e.obj, f)
		if err != nil {
			return nil, err
		}
		k, err := s.evalDefined(e.key, f)
		if err != nil {
			return nil, err
		}
		return getItem(obj, k)
	case *sliceExpr:
		return s.evalSlice(e, f)
	case *callExpr:
		fn, err := s.evalDefined(e.fn, f)
		if err != nil {
			return nil, err
		}
		args, kw, err := s.evalArgs(e.args, e.kwargs, f)
		if err != nil {
			return nil, err
		}
		return callValue(fn, args, kw)
	case *filterExpr:
		v, err := s.eval(e.e, f)
		if err != nil {
			return nil, err
		}
		return s.applyFilter(e, v, f)
	case *testExpr:
		return s.applyTest(e, f)
	case *unaryExpr:
		v, err := s.evalDefined(e.e, f)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "not":
			b, err := truth(v)
			return !b, err
		case "-":
			switch x := v.(type) {
			case int:
				return -x, nil
			case float64:
				return -x, nil
			case bool:
				return -b2i(x), nil
			}
			return nil, errf("bad operand type for unary -: '%s'", typeName(v))
		default:
			if _, ok := num(v); !ok {
				return nil, errf("bad operand type for unary +: '%s'", typeName(v))
			}
			return v, nil
		}
	case *binExpr:
		return s.evalBin(e, f)
	case *compareExpr:
		l, err := s.evalDefined(e.first, f)
		if err != nil {
			return nil, err
		}
		for i, op := range e.ops {
			r, err := s.evalDefined(e.rest[i], f)
			if err != nil {
				return nil, err
			}
			ok, err := compareOp(op, l, r)
			if err != nil || !ok {
				return false, err
			}
			l = r
		}
		return true, nil
	case *condExpr:
		c, err := s.evalDefined(e.cond, f)
		if err != nil {
			return nil, err
		}
		ok, err := truth(c)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.eval(e.a, f)
		}
		if e.b == nil {
			return &Undefined{name: "inline if-expression without else", lenient: true}, nil
		}
		return s.eval(e.b, f)
	}
	return nil, errf("internal error: unknown expression %T", e)
}

func (s *state) evalArgs(args []expr, kwargs []kwarg, f *frame) ([]any, map[string]any, error) {
	av := make([]any, 0, len(args))
	for _, a := range args {
		v, err := s.evalDefined(a, f)
		if err != nil {
			return nil, nil, err
		}
		av = append(av, v)
	}
	var kw map[string]any
	if len(kwargs) > 0 {
		kw = map[string]any{}
		for _, k := range kwargs {
			v, err := s.evalDefined(k.e, f)
			if err != nil {
				return nil, nil, err
			}
			kw[k.name] = v
		}
	}
	return av, kw, nil
}

func callValue(fn any, args []any, kw map[string]any) (any, error) {
	switch x := fn.(type) {
	case *Func:
		return x.fn(args, kw)
	case caller:
		return x.call(args, kw)
	}
	return nil, errf("'%s' object is not callable", typeName(fn))
}

func (s *state) evalBin(e *binExpr, f *frame) (any, error) {
	l, err := s.evalDefined(e.l, f)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "and", "or":
		t, err := truth(l)
		if err != nil {
			return nil, err
		}
		if t == (e.op == "or") {
			return l, nil
		}
		return s.evalDefined(e.r, f)
	}
	r, err := s.evalDefined(e.r, f)
	if err != nil {
		return nil, err
	}
	return binOp(e.op, l, r)
}
