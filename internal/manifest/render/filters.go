package render

import (
	"math"
	"strconv"
	"strings"
)

type filterFn func(v any, args []any, kw map[string]any) (any, error)

var filters map[string]filterFn

func init() {
	filters = map[string]filterFn{
		"join":        fJoin,
		"replace":     fReplace,
		"lower":       strFilter(strings.ToLower),
		"upper":       strFilter(strings.ToUpper),
		"title":       strFilter(titleCase),
		"capitalize":  strFilter(capitalize),
		"trim":        fTrim,
		"list":        fList,
		"length":      fLength,
		"count":       fLength,
		"string":      fString,
		"int":         fInt,
		"float":       fFloat,
		"first":       fFirst,
		"last":        fLast,
		"reverse":     fReverse,
		"sort":        fSort,
		"unique":      fUnique,
		"abs":         fAbs,
		"round":       fRound,
		"tojson":      fToJSON,
		"e":           fEscape,
		"escape":      fEscape,
		"forceescape": fEscape,
		"safe":        func(v any, _ []any, _ map[string]any) (any, error) { return v, nil },
		"min":         fMinMax(-1),
		"max":         fMinMax(1),
		"sum":         fSum,
		"indent":      fIndent,
		"center":      fCenter,
		"format":      fFormat,
		"attr":        fAttr,
		"pprint":      func(v any, _ []any, _ map[string]any) (any, error) { return repr(v) },
		"items":       fItems,
		"dictsort":    fDictsort,
	}
}

func (s *state) applyFilter(fl *filterExpr, v any, f *frame) (any, error) {
	args, kw, err := s.evalArgs(fl.args, fl.kwargs, f)
	if err != nil {
		return nil, err
	}
	var res any
	switch fl.name {
	case "default", "d":
		res, err = fDefault(v, args, kw)
	case "map", "select", "reject", "selectattr", "rejectattr":
		if u, ok := v.(*Undefined); ok {
			return nil, s.locate(undefinedErr(u), fl.ln())
		}
		res, err = s.higherOrder(fl.name, v, args, kw)
	default:
		fn, ok := filters[fl.name]
		if !ok {
			return nil, s.locate(&evalError{msg: "no filter named '" + fl.name + "'", err: ErrSyntax}, fl.ln())
		}
		if u, ok := v.(*Undefined); ok {
			return nil, s.locate(undefinedErr(u), fl.ln())
		}
		res, err = fn(v, args, kw)
	}
	if err != nil {
		return nil, s.locate(err, fl.ln())
	}
	return res, nil
}

func strFilter(f func(string) string) filterFn {
	return func(v any, args []any, kw map[string]any) (any, error) {
		s, err := toStr(v)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func fDefault(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("default", args, kw, 0, "default_value", "boolean")
	if err != nil {
		return nil, err
	}
	def := a[0]
	if def == missing {
		def = ""
	}
	if _, ok := v.(*Undefined); ok {
		return def, nil
	}
	if a[1] != missing {
		if b, _ := truth(a[1]); b {
			if t, err := truth(v); err == nil && !t {
				return def, nil
			}
		}
	}
	return v, nil
}

func fJoin(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("join", args, kw, 0, "d", "attribute")
	if err != nil {
		return nil, err
	}
	sep := ""
	if a[0] != missing {
		if sep, err = toStr(a[0]); err != nil {
			return nil, err
		}
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(items))
	for i, it := range items {
		if a[1] != missing {
			if it, err = attrPath(it, a[1]); err != nil {
				return nil, err
			}
		}
		if parts[i], err = toStr(it); err != nil {
			return nil, err
		}
	}
	out := strings.Join(parts, sep)
	if len(out) > maxOutput {
		return nil, errf("string too long")
	}
	return out, nil
}

// attrPath resolves Jinja's "attribute" argument ("a.b" or an integer index).
func attrPath(v any, attr any) (any, error) {
	if i, ok := asInt(attr); ok {
		return getItem(v, i)
	}
	name, err := toStr(attr)
	if err != nil {
		return nil, err
	}
	for _, part := range strings.Split(name, ".") {
		var key any = part
		if n, err := strconv.Atoi(part); err == nil {
			key = n
		}
		if v, err = getItem(v, key); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func fReplace(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("replace", args, kw, 2, "old", "new", "count")
	if err != nil {
		return nil, err
	}
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	return replaceStr(s, a[0], a[1], a[2])
}

func fTrim(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("trim", args, kw, 0, "chars")
	if err != nil {
		return nil, err
	}
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	chars := pyspace
	if a[0] != missing && a[0] != nil {
		if chars, err = strArg("trim", a[0]); err != nil {
			return nil, err
		}
	}
	return strings.Trim(s, chars), nil
}

func fLength(v any, args []any, kw map[string]any) (any, error) { return length(v) }

func fString(v any, args []any, kw map[string]any) (any, error) { return toStr(v) }

func fInt(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("int", args, kw, 0, "default", "base")
	if err != nil {
		return nil, err
	}
	def := any(0)
	if a[0] != missing {
		def = a[0]
	}
	base := 10
	if a[1] != missing {
		if base, err = intArg("int", a[1]); err != nil {
			return nil, err
		}
	}
	switch x := v.(type) {
	case int:
		return x, nil
	case bool:
		return b2i(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxInt64/2 {
			return def, nil
		}
		return int(x), nil
	case string:
		s := strings.ReplaceAll(strings.TrimSpace(x), "_", "")
		if len(s) > 2 && s[0] == '0' {
			// Python's int() accepts the prefix matching the base.
			switch p := strings.ToLower(s[:2]); {
			case p == "0x" && base == 16, p == "0o" && base == 8, p == "0b" && base == 2:
				s = s[2:]
			}
		}
		if n, err := strconv.ParseInt(s, base, 64); err == nil {
			return int(n), nil
		}
		if base == 10 {
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < math.MaxInt64/2 {
				return int(f), nil
			}
		}
	}
	return def, nil
}

func fFloat(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("float", args, kw, 0, "default")
	if err != nil {
		return nil, err
	}
	def := any(0.0)
	if a[0] != missing {
		def = a[0]
	}
	if f, ok := num(v); ok {
		return f, nil
	}
	if s, ok := v.(string); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f, nil
		}
	}
	return def, nil
}

func fAbs(v any, args []any, kw map[string]any) (any, error) {
	switch x := v.(type) {
	case int:
		if x < 0 {
			return -x, nil
		}
		return x, nil
	case float64:
		return math.Abs(x), nil
	case bool:
		return b2i(x), nil
	}
	return nil, errf("bad operand type for abs(): '%s'", typeName(v))
}

func fRound(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("round", args, kw, 0, "precision", "method")
	if err != nil {
		return nil, err
	}
	x, ok := num(v)
	if !ok {
		return nil, errf("round filter needs a number, not '%s'", typeName(v))
	}
	prec := 0
	if a[0] != missing {
		if prec, err = intArg("round", a[0]); err != nil {
			return nil, err
		}
	}
	if prec > 300 || prec < -300 {
		return x, nil
	}
	m := "common"
	if a[1] != missing {
		if m, err = strArg("round", a[1]); err != nil {
			return nil, err
		}
	}
	p := math.Pow(10, float64(prec))
	switch m {
	case "common": // Python's round(): halves go to the even neighbour
		return math.RoundToEven(x*p) / p, nil
	case "ceil":
		return math.Ceil(x*p) / p, nil
	case "floor":
		return math.Floor(x*p) / p, nil
	}
	return nil, errf("method must be common, ceil or floor")
}

func fEscape(v any, args []any, kw map[string]any) (any, error) {
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&#34;", "'", "&#39;")
	return r.Replace(s), nil
}

func fIndent(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("indent", args, kw, 0, "width", "first", "blank")
	if err != nil {
		return nil, err
	}
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	ind := "    "
	switch w := orDefault(a[0], 4).(type) {
	case string:
		ind = w
	default:
		n, err := intArg("indent", w)
		if err != nil {
			return nil, err
		}
		ind = strings.Repeat(" ", max(0, min(n, 1024)))
	}
	first, _ := truth(orDefault(a[1], false))
	blank, _ := truth(orDefault(a[2], false))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if i == 0 && !first {
			continue
		}
		if l == "" && !blank {
			continue
		}
		lines[i] = ind + l
	}
	out := strings.Join(lines, "\n")
	if len(out) > maxOutput {
		return nil, errf("string too long")
	}
	return out, nil
}

func fCenter(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("center", args, kw, 0, "width")
	if err != nil {
		return nil, err
	}
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	w, err := intArg("center", orDefault(a[0], 80))
	if err != nil {
		return nil, err
	}
	return pad(s, "center", w, " ")
}

func fFormat(v any, args []any, kw map[string]any) (any, error) {
	s, err := toStr(v)
	if err != nil {
		return nil, err
	}
	if len(kw) > 0 {
		return nil, errf("format filter: keyword arguments are not supported")
	}
	if len(args) == 1 {
		return percentFormat(s, args[0])
	}
	return percentFormat(s, newTuple(args...))
}

func fAttr(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("attr", args, kw, 1, "name")
	if err != nil {
		return nil, err
	}
	n, err := strArg("attr", a[0])
	if err != nil {
		return nil, err
	}
	return getAttr(v, n)
}
