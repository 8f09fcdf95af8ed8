package manifest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Marshal returns the canonical TOML form of the manifest tree (see
// docs/spec/measurement.md, "Canonical TOML"): one line per leaf key written
// as a full dotted key, keys sorted, arrays at key level one element per line,
// tables inside values written inline. Parsing the result yields the same
// tree, and marshalling is deterministic, so the bytes can be measured.
func (m *Manifest) Marshal() ([]byte, error) {
	m.materialize()
	return MarshalTree(m.tree)
}

// MarshalTree is Marshal for a bare TOML tree (as produced by
// toml.Unmarshal into map[string]any).
func MarshalTree(tree map[string]any) ([]byte, error) {
	var b strings.Builder
	if err := marshalTable(&b, "", tree); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func marshalTable(b *strings.Builder, prefix string, t map[string]any) error {
	for _, k := range sortedKeys(t) {
		path := keyPath(prefix, k)
		v := t[k]
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			if err := marshalTable(b, path, sub); err != nil {
				return err
			}
			continue
		}
		b.WriteString(path)
		b.WriteString(" = ")
		if arr, ok := v.([]any); ok && len(arr) > 0 {
			b.WriteString("[\n")
			for _, e := range arr {
				b.WriteString("  ")
				if err := marshalValue(b, path, e); err != nil {
					return err
				}
				b.WriteString(",\n")
			}
			b.WriteString("]\n")
			continue
		}
		if err := marshalValue(b, path, v); err != nil {
			return err
		}
		b.WriteByte('\n')
	}
	return nil
}

// marshalValue writes v on one line.
func marshalValue(b *strings.Builder, path string, v any) error {
	switch v := v.(type) {
	case string:
		b.WriteString(quoteString(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		b.WriteString(strconv.Itoa(v))
	case float64:
		b.WriteString(formatFloat(v))
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := marshalValue(b, path, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{ ")
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(keyPath("", k))
			b.WriteString(" = ")
			if err := marshalValue(b, path, v[k]); err != nil {
				return err
			}
		}
		b.WriteString(" }")
	default:
		return fmt.Errorf("manifest: cannot write %s: values of type %T are not used in manifests", path, v)
	}
	return nil
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// quoteString writes a TOML basic string: ", \ and control characters are
// escaped (\b \t \n \f \r, otherwise \uXXXX); everything else is verbatim
// UTF-8.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func sortedKeys(t map[string]any) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
