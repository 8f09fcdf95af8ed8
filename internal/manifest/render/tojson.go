package render

// The tojson filter: Python's json.dumps(sort_keys=True), HTML-safe like Jinja's.

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// toJSON matches Jinja's tojson: json.dumps(sort_keys=True) with HTML-unsafe
// characters escaped.
func fToJSON(v any, args []any, kw map[string]any) (any, error) {
	if _, err := bind("tojson", args, kw, 0, "indent"); err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := writeJSON(&b, v); err != nil {
		return nil, err
	}
	r := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`)
	return r.Replace(b.String()), nil
}

func writeJSON(b *strings.Builder, v any) error { return writeJSONDepth(b, v, 0) }

func writeJSONDepth(b *strings.Builder, v any, depth int) error {
	if b.Len() > maxOutput {
		return errf("string too long")
	}
	if depth > maxNesting {
		return errf("circular reference detected")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(floatRepr(x))
		}
	case string:
		writeJSONString(b, x)
	case *List:
		b.WriteByte('[')
		for i, it := range x.items {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeJSONDepth(b, it, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case *Dict:
		type kv struct {
			k string
			v any
		}
		var kvs []kv
		for _, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int:
				ks = strconv.Itoa(kk)
			case nil:
				ks = "null"
			default:
				s, _ := repr(k)
				ks = s
			}
			kvs = append(kvs, kv{ks, x.m[k]})
		}
		sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
		b.WriteByte('{')
		for i, e := range kvs {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONString(b, e.k)
			b.WriteString(": ")
			if err := writeJSONDepth(b, e.v, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case *Undefined:
		return undefinedErr(x)
	default:
		return errf("Object of type %s is not JSON serializable", typeName(v))
	}
	return nil
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r -= 0x10000
				b.WriteString(`\u` + hex4(0xd800+(r>>10)) + `\u` + hex4(0xdc00+(r&0x3ff)))
			} else {
				b.WriteString(`\u` + hex4(r))
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func hex4(r rune) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", 4-len(s)) + s
}
