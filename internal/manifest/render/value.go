package render

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Template values are plain Go values modelled on Python's:
// nil (None), bool, int, float64, string, Path, *List, *Dict, *Func,
// *Undefined, and objects implementing attrGetter and friends.

// Undefined is the value of a name or attribute that does not exist. Like
// Jinja2's StrictUndefined, any use other than "is defined" and the default
// filter is an error.
type Undefined struct {
	name string
	obj  string // description of the object the attribute was looked up on
	// lenient marks Jinja's plain Undefined, which "a if c" without else
	// yields even under StrictUndefined: it prints as "", is false and
	// iterates as empty.
	lenient bool
	msg     string // overrides the generated message
}

func (u *Undefined) message() string {
	if u.msg != "" {
		return u.msg
	}
	if u.obj != "" {
		return fmt.Sprintf("%s has no attribute '%s'", u.obj, u.name)
	}
	return fmt.Sprintf("'%s' is undefined", u.name)
}

// List is a Python list or tuple.
type List struct {
	items []any
	tuple bool
}

func newList(items ...any) *List  { return &List{items: items} }
func newTuple(items ...any) *List { return &List{items: items, tuple: true} }

// Dict is an insertion-ordered Python dict with comparable keys.
type Dict struct {
	keys []any
	m    map[any]any
}

func newDict() *Dict { return &Dict{m: map[any]any{}} }

func (d *Dict) set(k, v any) {
	k = normKey(k)
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

func (d *Dict) get(k any) (any, bool) {
	if !hashable(k) {
		return nil, false
	}
	v, ok := d.m[normKey(k)]
	return v, ok
}

// normKey makes keys that Python considers equal identical (1 == 1.0 == True).
func normKey(k any) any {
	switch v := k.(type) {
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int(v)
		}
	case Path:
		return v
	}
	return k
}

func hashable(k any) bool {
	switch k.(type) {
	case nil, bool, int, float64, string, Path:
		return true
	}
	return false
}

// Func is a callable value (filter-like builtins, bound methods, macros).
type Func struct {
	name string
	fn   func(args []any, kw map[string]any) (any, error)
}

// Path is a pathlib.PurePosixPath-like value; it renders as its string.
type Path string

// Optional behaviours of host objects.
type (
	attrGetter interface {
		getAttr(name string) (any, bool, error)
	}
	pyStringer interface{ pyStr() (string, error) }
	caller     interface {
		call(args []any, kw map[string]any) (any, error)
	}
	truedivider interface{ truediv(other any) (any, error) }
	typeNamer   interface{ typeName() string }
)

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case Path:
		return "PosixPath"
	case *List:
		if x.tuple {
			return "tuple"
		}
		return "list"
	case *Dict:
		return "dict"
	case *Func:
		return "function"
	case *Undefined:
		return "Undefined"
	case typeNamer:
		return x.typeName()
	}
	return fmt.Sprintf("%T", v)
}

// toStr is Python's str().
func toStr(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case Path:
		return string(x), nil
	case *Undefined:
		if x.lenient {
			return "", nil
		}
		return "", undefinedErr(x)
	case pyStringer:
		return x.pyStr()
	}
	return repr(v)
}

// repr is Python's repr().
func repr(v any) (string, error) { return reprSeen(v, nil) }

// reprSeen tracks the containers being printed so self-referencing ones
// print as [...] like Python instead of recursing forever.
func reprSeen(v any, seen []any) (string, error) {
	for _, s := range seen {
		if s == v {
			if _, ok := v.(*Dict); ok {
				return "{...}", nil
			}
			return "[...]", nil
		}
	}
	if len(seen) > maxNesting {
		return "", errf("maximum nesting depth exceeded")
	}
	switch x := v.(type) {
	case nil:
		return "None", nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return floatRepr(x), nil
	case string:
		return quoteRepr(x), nil
	case Path:
		return "PosixPath(" + quoteRepr(string(x)) + ")", nil
	case *List:
		var b strings.Builder
		open, close := "[", "]"
		if x.tuple {
			open, close = "(", ")"
		}
		b.WriteString(open)
		for i, it := range x.items {
			if i > 0 {
				b.WriteString(", ")
			}
			s, err := reprSeen(it, append(seen, v))
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			if b.Len() > maxOutput {
				return "", errf("string too long")
			}
		}
		if x.tuple && len(x.items) == 1 {
			b.WriteString(",")
		}
		b.WriteString(close)
		return b.String(), nil
	case *Dict:
		var b strings.Builder
		b.WriteString("{")
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			ks, err := repr(k)
			if err != nil {
				return "", err
			}
			vs, err := reprSeen(x.m[k], append(seen, v))
			if err != nil {
				return "", err
			}
			b.WriteString(ks + ": " + vs)
			if b.Len() > maxOutput {
				return "", errf("string too long")
			}
		}
		b.WriteString("}")
		return b.String(), nil
	case *Func:
		return "<function " + x.name + ">", nil
	case *Undefined:
		return "", undefinedErr(x)
	case pyStringer:
		return x.pyStr()
	}
	return fmt.Sprintf("<%s object>", typeName(v)), nil
}

func quoteRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// floatRepr formats like Python's repr(float).
func floatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// truth is Python's bool().
func truth(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case int:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case string:
		return x != "", nil
	case Path:
		return true, nil
	case *List:
		return len(x.items) > 0, nil
	case *Dict:
		return len(x.keys) > 0, nil
	case *Undefined:
		if x.lenient {
			return false, nil
		}
		return false, undefinedErr(x)
	}
	return true, nil
}

// iterate returns the items a for loop visits.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case *List:
		return append([]any(nil), x.items...), nil
	case *Dict:
		return append([]any(nil), x.keys...), nil
	case string:
		var out []any
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case *Undefined:
		if x.lenient {
			return nil, nil
		}
		return nil, undefinedErr(x)
	}
	return nil, errf("'%s' object is not iterable", typeName(v))
}

func length(v any) (int, error) {
	switch x := v.(type) {
	case string:
		return len([]rune(x)), nil
	case *List:
		return len(x.items), nil
	case *Dict:
		return len(x.keys), nil
	case *Undefined:
		return 0, undefinedErr(x)
	}
	return 0, errf("object of type '%s' has no len()", typeName(v))
}

// equal is Python's ==.
func equal(a, b any) bool { return equalDepth(a, b, 0) }

func equalDepth(a, b any, depth int) bool {
	if depth > maxNesting {
		return false
	}
	if an, ok := num(a); ok {
		if bn, ok := num(b); ok {
			return an == bn
		}
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case Path:
		y, ok := b.(Path)
		return ok && x == y
	case *List:
		y, ok := b.(*List)
		if ok && x == y {
			return true
		}
		if !ok || x.tuple != y.tuple || len(x.items) != len(y.items) {
			return false
		}
		for i := range x.items {
			if !equalDepth(x.items[i], y.items[i], depth+1) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if ok && x == y {
			return true
		}
		if !ok || len(x.keys) != len(y.keys) {
			return false
		}
		for _, k := range x.keys {
			yv, ok := y.m[k]
			if !ok || !equalDepth(x.m[k], yv, depth+1) {
				return false
			}
		}
		return true
	}
	return a == b
}

// num converts bool/int/float to float64 for arithmetic comparisons.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// compare orders two values (<0, 0, >0) like Python's rich comparison.
func compare(a, b any) (int, error) { return compareDepth(a, b, 0) }

func compareDepth(a, b any, depth int) (int, error) {
	if depth > maxNesting {
		return 0, errf("maximum nesting depth exceeded in comparison")
	}
	if u, ok := a.(*Undefined); ok {
		return 0, undefinedErr(u)
	}
	if u, ok := b.(*Undefined); ok {
		return 0, undefinedErr(u)
	}
	if an, ok := num(a); ok {
		if bn, ok := num(b); ok {
			switch {
			case an < bn:
				return -1, nil
			case an > bn:
				return 1, nil
			}
			return 0, nil
		}
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.Compare(as, bs), nil
	}
	ap, aok := a.(Path)
	bp, bok := b.(Path)
	if aok && bok {
		return strings.Compare(string(ap), string(bp)), nil
	}
	al, aok := a.(*List)
	bl, bok := b.(*List)
	if aok && bok {
		for i := 0; i < len(al.items) && i < len(bl.items); i++ {
			if equal(al.items[i], bl.items[i]) {
				continue
			}
			return compareDepth(al.items[i], bl.items[i], depth+1)
		}
		return len(al.items) - len(bl.items), nil
	}
	return 0, errf("'<' not supported between instances of '%s' and '%s'", typeName(a), typeName(b))
}

func sortValues(items []any) error {
	var err error
	sort.SliceStable(items, func(i, j int) bool {
		c, e := compare(items[i], items[j])
		if e != nil && err == nil {
			err = e
		}
		return c < 0
	})
	return err
}

// contains is Python's "needle in haystack".
func contains(hay, needle any) (bool, error) {
	switch h := hay.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, errf("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case *List:
		for _, it := range h.items {
			if equal(it, needle) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		_, ok := h.get(needle)
		return ok, nil
	case *Undefined:
		return false, undefinedErr(h)
	}
	return false, errf("argument of type '%s' is not iterable", typeName(hay))
}
