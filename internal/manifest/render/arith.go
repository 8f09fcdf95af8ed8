package render

// Python semantics of the arithmetic and comparison operators and slicing.

import (
	"math"
	"strings"
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareOp(op string, l, r any) (bool, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in":
		return contains(r, l)
	case "not in":
		ok, err := contains(r, l)
		return !ok, err
	}
	c, err := compare(l, r)
	if err != nil {
		return false, errf("'%s' not supported between instances of '%s' and '%s'", op, typeName(l), typeName(r))
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	}
	return c >= 0, nil
}

func binOp(op string, l, r any) (any, error) {
	if op == "~" {
		ls, err := toStr(l)
		if err != nil {
			return nil, err
		}
		rs, err := toStr(r)
		if err != nil {
			return nil, err
		}
		if len(ls)+len(rs) > maxOutput {
			return nil, errf("string too long")
		}
		return ls + rs, nil
	}
	if op == "/" {
		if d, ok := l.(truedivider); ok {
			return d.truediv(r)
		}
	}
	li, lInt := asInt(l)
	ri, rInt := asInt(r)
	if lInt && rInt {
		return intOp(op, li, ri)
	}
	lf, lNum := num(l)
	rf, rNum := num(r)
	if lNum && rNum {
		return floatOp(op, lf, rf)
	}
	switch op {
	case "+":
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				if len(ls)+len(rs) > maxOutput {
					return nil, errf("string too long")
				}
				return ls + rs, nil
			}
		}
		if ll, ok := l.(*List); ok {
			if rl, ok := r.(*List); ok && ll.tuple == rl.tuple {
				if len(ll.items)+len(rl.items) > maxCollection {
					return nil, errf("list too long")
				}
				return &List{items: append(append([]any(nil), ll.items...), rl.items...), tuple: ll.tuple}, nil
			}
		}
	case "*":
		if ls, ok := l.(string); ok && rInt {
			if ri < 0 {
				ri = 0
			}
			if ri > 0 && len(ls) > maxOutput/ri {
				return nil, errf("string too long")
			}
			return strings.Repeat(ls, ri), nil
		}
		if ll, ok := l.(*List); ok && rInt {
			if ri < 0 {
				ri = 0
			}
			if ri > 0 && len(ll.items) > maxCollection/ri {
				return nil, errf("list too long")
			}
			out := &List{tuple: ll.tuple}
			for range ri {
				out.items = append(out.items, ll.items...)
			}
			return out, nil
		}
	case "%":
		if ls, ok := l.(string); ok {
			return percentFormat(ls, r)
		}
	}
	return nil, errf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(r))
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case bool:
		return b2i(x), true
	}
	return 0, false
}

func intOp(op string, a, b int) (any, error) {
	switch op {
	case "+":
		if (b > 0 && a > math.MaxInt-b) || (b < 0 && a < math.MinInt-b) {
			return float64(a) + float64(b), nil
		}
		return a + b, nil
	case "-":
		if (b < 0 && a > math.MaxInt+b) || (b > 0 && a < math.MinInt+b) {
			return float64(a) - float64(b), nil
		}
		return a - b, nil
	case "*":
		if a != 0 && b != 0 && (a*b/b != a || (a == -1 && b == math.MinInt) || (b == -1 && a == math.MinInt)) {
			return float64(a) * float64(b), nil
		}
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, errf("division by zero")
		}
		return float64(a) / float64(b), nil
	case "//":
		if b == 0 {
			return nil, errf("integer division or modulo by zero")
		}
		if a == math.MinInt && b == -1 {
			return -float64(a), nil
		}
		q := a / b
		if (a%b != 0) && ((a < 0) != (b < 0)) {
			q--
		}
		return q, nil
	case "%":
		if b == 0 {
			return nil, errf("integer division or modulo by zero")
		}
		if b == -1 {
			return 0, nil
		}
		m := a % b
		if m != 0 && ((m < 0) != (b < 0)) {
			m += b
		}
		return m, nil
	case "**":
		r := math.Pow(float64(a), float64(b))
		if b >= 0 && math.Abs(r) < 1<<53 {
			return int(r), nil
		}
		return r, nil
	}
	return nil, errf("unsupported operand type(s) for %s: 'int' and 'int'", op)
}

func floatOp(op string, a, b float64) (any, error) {
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, errf("float division by zero")
		}
		return a / b, nil
	case "//":
		if b == 0 {
			return nil, errf("float floor division by zero")
		}
		return math.Floor(a / b), nil
	case "%":
		if b == 0 {
			return nil, errf("float modulo")
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return m, nil
	case "**":
		return math.Pow(a, b), nil
	}
	return nil, errf("unsupported operand type(s) for %s: 'float' and 'float'", op)
}

func (s *state) evalSlice(e *sliceExpr, f *frame) (any, error) {
	obj, err := s.evalDefined(e.obj, f)
	if err != nil {
		return nil, err
	}
	bound := func(x expr) (*int, error) {
		if x == nil {
			return nil, nil
		}
		v, err := s.evalDefined(x, f)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, nil
		}
		i, ok := asInt(v)
		if !ok {
			return nil, errf("slice indices must be integers or None, not '%s'", typeName(v))
		}
		return &i, nil
	}
	lo, err := bound(e.lo)
	if err != nil {
		return nil, err
	}
	hi, err := bound(e.hi)
	if err != nil {
		return nil, err
	}
	st, err := bound(e.step)
	if err != nil {
		return nil, err
	}
	var items []any
	str, isStr := obj.(string)
	var runes []rune
	switch x := obj.(type) {
	case string:
		runes = []rune(x)
		items = make([]any, len(runes))
	case *List:
		items = x.items
	default:
		return nil, errf("'%s' object is not subscriptable", typeName(obj))
	}
	idx := sliceIndices(len(items), lo, hi, st)
	if idx == nil && st != nil && *st == 0 {
		return nil, errf("slice step cannot be zero")
	}
	if isStr {
		_ = str
		var b strings.Builder
		for _, i := range idx {
			b.WriteRune(runes[i])
		}
		return b.String(), nil
	}
	out := &List{tuple: obj.(*List).tuple}
	for _, i := range idx {
		out.items = append(out.items, items[i])
	}
	return out, nil
}

// sliceIndices implements Python's slice.indices for a sequence of length n.
func sliceIndices(n int, lo, hi, st *int) []int {
	step := 1
	if st != nil {
		step = *st
	}
	if step == 0 {
		return nil
	}
	clamp := func(p *int, def int, lowLim, highLim int) int {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
			if v < lowLim {
				v = lowLim
			}
		} else if v > highLim {
			v = highLim
		}
		return v
	}
	var start, stop int
	if step > 0 {
		start = clamp(lo, 0, 0, n)
		stop = clamp(hi, n, 0, n)
	} else {
		start = clamp(lo, n-1, -1, n-1)
		stop = clamp(hi, -1, -1, n-1)
	}
	out := []int{}
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		out = append(out, i)
	}
	return out
}
