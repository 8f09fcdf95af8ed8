package render

// Python str methods callable from templates.

import (
	"strings"
)

// strMethod implements the Python str methods templates commonly use.
func strMethod(s string, name string) (any, bool) {
	simple := func(f func(string) any) (any, bool) {
		return method(name, func(args []any, kw map[string]any) (any, error) {
			if _, err := bind(name, args, kw, 0); err != nil {
				return nil, err
			}
			return f(s), nil
		}), true
	}
	switch name {
	case "lower":
		return simple(func(s string) any { return strings.ToLower(s) })
	case "upper":
		return simple(func(s string) any { return strings.ToUpper(s) })
	case "title":
		return simple(func(s string) any { return titleCase(s) })
	case "capitalize":
		return simple(func(s string) any { return capitalize(s) })
	case "splitlines":
		return simple(func(s string) any {
			out := &List{}
			for _, l := range strings.Split(strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n") {
				if s != "" {
					out.items = append(out.items, l)
				}
			}
			return out
		})
	case "isdigit":
		return simple(func(s string) any { return s != "" && strings.Trim(s, "0123456789") == "" })
	case "isspace":
		return simple(func(s string) any { return s != "" && strings.Trim(s, pyspace) == "" })
	case "islower":
		return simple(func(s string) any { return strings.ToLower(s) == s && strings.ToUpper(s) != s })
	case "isupper":
		return simple(func(s string) any { return strings.ToUpper(s) == s && strings.ToLower(s) != s })
	case "strip", "lstrip", "rstrip":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 0, "chars")
			if err != nil {
				return nil, err
			}
			chars := pyspace
			if a[0] != missing && a[0] != nil {
				if chars, err = strArg(name, a[0]); err != nil {
					return nil, err
				}
			}
			switch name {
			case "lstrip":
				return strings.TrimLeft(s, chars), nil
			case "rstrip":
				return strings.TrimRight(s, chars), nil
			}
			return strings.Trim(s, chars), nil
		}), true
	case "startswith", "endswith":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "prefix")
			if err != nil {
				return nil, err
			}
			cands := []any{a[0]}
			if l, ok := a[0].(*List); ok && l.tuple {
				cands = l.items
			}
			for _, c := range cands {
				p, err := strArg(name, c)
				if err != nil {
					return nil, err
				}
				if name == "startswith" && strings.HasPrefix(s, p) || name == "endswith" && strings.HasSuffix(s, p) {
					return true, nil
				}
			}
			return false, nil
		}), true
	case "removeprefix", "removesuffix":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "affix")
			if err != nil {
				return nil, err
			}
			p, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			if name == "removeprefix" {
				return strings.TrimPrefix(s, p), nil
			}
			return strings.TrimSuffix(s, p), nil
		}), true
	case "split", "rsplit":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 0, "sep", "maxsplit")
			if err != nil {
				return nil, err
			}
			maxsplit := -1
			if a[1] != missing {
				if maxsplit, err = intArg(name, a[1]); err != nil {
					return nil, err
				}
			}
			var parts []string
			if a[0] == missing || a[0] == nil {
				parts = splitWhitespace(s, maxsplit, name == "rsplit")
			} else {
				sep, err := strArg(name, a[0])
				if err != nil {
					return nil, err
				}
				if sep == "" {
					return nil, errf("empty separator")
				}
				parts = splitSep(s, sep, maxsplit, name == "rsplit")
			}
			out := &List{}
			for _, p := range parts {
				out.items = append(out.items, p)
			}
			return out, nil
		}), true
	case "replace":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 2, "old", "new", "count")
			if err != nil {
				return nil, err
			}
			return replaceStr(s, a[0], a[1], a[2])
		}), true
	case "join":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "iterable")
			if err != nil {
				return nil, err
			}
			items, err := iterate(a[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, errf("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
			}
			return strings.Join(parts, s), nil
		}), true
	case "find", "rfind", "count", "index":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "sub")
			if err != nil {
				return nil, err
			}
			sub, err := strArg(name, a[0])
			if err != nil {
				return nil, err
			}
			switch name {
			case "count":
				if sub == "" {
					return len([]rune(s)) + 1, nil
				}
				return strings.Count(s, sub), nil
			case "rfind":
				return runeIndex(s, strings.LastIndex(s, sub)), nil
			}
			i := strings.Index(s, sub)
			if i < 0 && name == "index" {
				return nil, errf("substring not found")
			}
			return runeIndex(s, i), nil
		}), true
	case "format":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			return strFormat(s, args, kw)
		}), true
	case "zfill", "ljust", "rjust", "center":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "width", "fillchar")
			if err != nil {
				return nil, err
			}
			w, err := intArg(name, a[0])
			if err != nil {
				return nil, err
			}
			fill := " "
			if a[1] != missing {
				if fill, err = strArg(name, a[1]); err != nil || len([]rune(fill)) != 1 {
					return nil, errf("%s() fill character must be exactly one character long", name)
				}
			}
			return pad(s, name, w, fill)
		}), true
	case "partition", "rpartition":
		return method(name, func(args []any, kw map[string]any) (any, error) {
			a, err := bind(name, args, kw, 1, "sep")
			if err != nil {
				return nil, err
			}
			sep, err := strArg(name, a[0])
			if err != nil || sep == "" {
				return nil, errf("%s() needs a non-empty separator", name)
			}
			i := strings.Index(s, sep)
			if name == "rpartition" {
				i = strings.LastIndex(s, sep)
			}
			if i < 0 {
				if name == "rpartition" {
					return newTuple("", "", s), nil
				}
				return newTuple(s, "", ""), nil
			}
			return newTuple(s[:i], sep, s[i+len(sep):]), nil
		}), true
	}
	return nil, false
}

func runeIndex(s string, byteIdx int) int {
	if byteIdx < 0 {
		return -1
	}
	return len([]rune(s[:byteIdx]))
}

func replaceStr(s string, oldV, newV, countV any) (any, error) {
	old, err := strArg("replace", oldV)
	if err != nil {
		return nil, err
	}
	nw, err := strArg("replace", newV)
	if err != nil {
		return nil, err
	}
	n := -1
	if countV != missing && countV != nil {
		if n, err = intArg("replace", countV); err != nil {
			return nil, err
		}
	}
	if old == "" && len(s)*len(nw) > maxOutput {
		return nil, errf("string too long")
	}
	if c := strings.Count(s, old); c > 0 && len(nw) > len(old) && c*(len(nw)-len(old)) > maxOutput {
		return nil, errf("string too long")
	}
	return strings.Replace(s, old, nw, n), nil
}

func pad(s, how string, w int, fill string) (any, error) {
	n := len([]rune(s))
	if w <= n {
		return s, nil
	}
	if w > maxOutput {
		return nil, errf("string too long")
	}
	extra := w - n
	switch how {
	case "zfill":
		sign := ""
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			sign, s = s[:1], s[1:]
		}
		return sign + strings.Repeat("0", extra) + s, nil
	case "ljust":
		return s + strings.Repeat(fill, extra), nil
	case "rjust":
		return strings.Repeat(fill, extra) + s, nil
	}
	left := extra / 2
	if extra%2 == 1 && w%2 == 1 {
		left++
	}
	return strings.Repeat(fill, left) + s + strings.Repeat(fill, extra-left), nil
}

func splitWhitespace(s string, maxsplit int, fromRight bool) []string {
	if !fromRight {
		var out []string
		rest := strings.TrimLeft(s, pyspace)
		for rest != "" {
			if maxsplit >= 0 && len(out) == maxsplit {
				out = append(out, rest)
				return out
			}
			i := strings.IndexAny(rest, pyspace)
			if i < 0 {
				out = append(out, rest)
				break
			}
			out = append(out, rest[:i])
			rest = strings.TrimLeft(rest[i:], pyspace)
		}
		return out
	}
	var out []string
	rest := strings.TrimRight(s, pyspace)
	for rest != "" {
		if maxsplit >= 0 && len(out) == maxsplit {
			out = append(out, rest)
			break
		}
		i := strings.LastIndexAny(rest, pyspace)
		if i < 0 {
			out = append(out, rest)
			break
		}
		out = append(out, rest[i+1:])
		rest = strings.TrimRight(rest[:i], pyspace)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func splitSep(s, sep string, maxsplit int, fromRight bool) []string {
	if maxsplit < 0 {
		return strings.Split(s, sep)
	}
	if !fromRight {
		return strings.SplitN(s, sep, maxsplit+1)
	}
	var out []string
	for len(out) < maxsplit {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		out = append(out, s[i+len(sep):])
		s = s[:i]
	}
	out = append(out, s)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func capitalize(s string) string {
	r := []rune(strings.ToLower(s))
	if len(r) > 0 {
		r[0] = []rune(strings.ToUpper(string(r[0])))[0]
	}
	return string(r)
}

func titleCase(s string) string {
	var b strings.Builder
	prevLetter := false
	for _, r := range s {
		isLetter := strings.ToUpper(string(r)) != strings.ToLower(string(r))
		switch {
		case isLetter && !prevLetter:
			b.WriteString(strings.ToUpper(string(r)))
		case isLetter:
			b.WriteString(strings.ToLower(string(r)))
		default:
			b.WriteRune(r)
		}
		prevLetter = isLetter
	}
	return b.String()
}
