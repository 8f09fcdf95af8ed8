package render

import (
	"strconv"
	"strings"
)

// strFormat implements str.format for "{}", "{0}", "{name}" and "{x.attr}"
// fields with optional "!s"/"!r" conversion; format specs are limited to
// width/alignment-free values (anything else is reported as unsupported).
func strFormat(s string, args []any, kw map[string]any) (any, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '}' {
			if i+1 < len(s) && s[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return nil, errf("single '}' encountered in format string")
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, errf("single '{' encountered in format string")
		}
		field := s[i+1 : i+j]
		i += j
		conv := ""
		if k := strings.IndexByte(field, ':'); k >= 0 {
			if spec := field[k+1:]; spec != "" && spec != "s" {
				return nil, errf("format spec %q is not supported", spec)
			}
			field = field[:k]
		}
		if k := strings.IndexByte(field, '!'); k >= 0 {
			conv, field = field[k+1:], field[:k]
		}
		name, rest, _ := strings.Cut(field, ".")
		var v any
		switch n, err := strconv.Atoi(name); {
		case name == "":
			if auto >= len(args) {
				return nil, errf("replacement index %d out of range for positional args tuple", auto)
			}
			v = args[auto]
			auto++
		case err == nil:
			if n < 0 || n >= len(args) {
				return nil, errf("replacement index %d out of range for positional args tuple", n)
			}
			v = args[n]
		default:
			var ok bool
			if v, ok = kw[name]; !ok {
				return nil, errf("KeyError: '%s'", name)
			}
		}
		for rest != "" {
			var attr string
			attr, rest, _ = strings.Cut(rest, ".")
			var err error
			if v, err = getAttr(v, attr); err != nil {
				return nil, err
			}
		}
		var str string
		var err error
		if conv == "r" {
			str, err = repr(v)
		} else {
			str, err = toStr(v)
		}
		if err != nil {
			return nil, err
		}
		b.WriteString(str)
		if b.Len() > maxOutput {
			return nil, errf("string too long")
		}
	}
	return b.String(), nil
}

// percentFormat implements "fmt % args" for %s, %r, %d, %i, %f and %%.
func percentFormat(f string, arg any) (any, error) {
	var args []any
	if l, ok := arg.(*List); ok && l.tuple {
		args = l.items
	} else {
		args = []any{arg}
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 >= len(f) {
			return nil, errf("incomplete format")
		}
		i++
		verb := f[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if n >= len(args) {
			return nil, errf("not enough arguments for format string")
		}
		v := args[n]
		n++
		var str string
		var err error
		switch verb {
		case 's':
			str, err = toStr(v)
		case 'r':
			str, err = repr(v)
		case 'd', 'i':
			x, ok := num(v)
			if !ok {
				return nil, errf("%%%c format: a real number is required, not %s", verb, typeName(v))
			}
			str = strconv.FormatInt(int64(x), 10)
		case 'f':
			x, ok := num(v)
			if !ok {
				return nil, errf("%%f format: a real number is required, not %s", typeName(v))
			}
			str = strconv.FormatFloat(x, 'f', 6, 64)
		default:
			return nil, errf("unsupported format character '%c'", verb)
		}
		if err != nil {
			return nil, err
		}
		b.WriteString(str)
		if b.Len() > maxOutput {
			return nil, errf("string too long")
		}
	}
	if n < len(args) {
		return nil, errf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}
