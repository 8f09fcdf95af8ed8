package render

// Filters over sequences: sorting, selection, aggregation.

import (
	"sort"
	"strings"
)

func fList(v any, args []any, kw map[string]any) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	return &List{items: items}, nil
}

func fFirst(v any, args []any, kw map[string]any) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{name: "first", msg: "No first item, sequence was empty."}, nil
	}
	return items[0], nil
}

func fLast(v any, args []any, kw map[string]any) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{name: "last", msg: "No last item, sequence was empty."}, nil
	}
	return items[len(items)-1], nil
}

func fReverse(v any, args []any, kw map[string]any) (any, error) {
	if s, ok := v.(string); ok {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return &List{items: items}, nil
}

// sortKey applies Jinja's case-insensitive default and attribute selection.
func sortKey(attribute any, caseSensitive bool) func(any) (any, error) {
	return func(v any) (any, error) {
		var err error
		if attribute != missing && attribute != nil {
			if v, err = attrPath(v, attribute); err != nil {
				return nil, err
			}
		}
		if s, ok := v.(string); ok && !caseSensitive {
			return strings.ToLower(s), nil
		}
		return v, nil
	}
}

func fSort(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("sort", args, kw, 0, "reverse", "case_sensitive", "attribute")
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	rev, _ := truth(orDefault(a[0], false))
	cs, _ := truth(orDefault(a[1], false))
	key := sortKey(a[2], cs)
	keys := make([]any, len(items))
	for i, it := range items {
		if keys[i], err = key(it); err != nil {
			return nil, err
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var cmpErr error
	sort.SliceStable(idx, func(i, j int) bool {
		c, err := compare(keys[idx[i]], keys[idx[j]])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		if rev {
			return c > 0
		}
		return c < 0
	})
	if cmpErr != nil {
		return nil, cmpErr
	}
	out := &List{}
	for _, i := range idx {
		out.items = append(out.items, items[i])
	}
	return out, nil
}

func orDefault(v, def any) any {
	if v == missing {
		return def
	}
	return v
}

func fUnique(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("unique", args, kw, 0, "case_sensitive", "attribute")
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	cs, _ := truth(orDefault(a[0], false))
	key := sortKey(a[1], cs)
	out := &List{}
	var seen []any
outer:
	for _, it := range items {
		k, err := key(it)
		if err != nil {
			return nil, err
		}
		for _, s := range seen {
			if equal(s, k) {
				continue outer
			}
		}
		seen = append(seen, k)
		out.items = append(out.items, it)
	}
	return out, nil
}

func fMinMax(sign int) filterFn {
	return func(v any, args []any, kw map[string]any) (any, error) {
		a, err := bind("min/max", args, kw, 0, "case_sensitive", "attribute")
		if err != nil {
			return nil, err
		}
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return &Undefined{name: "min/max", msg: "No aggregated item, sequence was empty."}, nil
		}
		cs, _ := truth(orDefault(a[0], false))
		key := sortKey(a[1], cs)
		best := items[0]
		bk, err := key(best)
		if err != nil {
			return nil, err
		}
		for _, it := range items[1:] {
			k, err := key(it)
			if err != nil {
				return nil, err
			}
			c, err := compare(k, bk)
			if err != nil {
				return nil, err
			}
			if c*sign > 0 {
				best, bk = it, k
			}
		}
		return best, nil
	}
}

func fSum(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("sum", args, kw, 0, "attribute", "start")
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	total := orDefault(a[1], 0)
	for _, it := range items {
		if a[0] != missing && a[0] != nil {
			if it, err = attrPath(it, a[0]); err != nil {
				return nil, err
			}
		}
		if total, err = binOp("+", total, it); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func fItems(v any, args []any, kw map[string]any) (any, error) {
	d, ok := v.(*Dict)
	if !ok {
		return nil, errf("items filter needs a mapping, not '%s'", typeName(v))
	}
	m, _ := dictMethod(d, "items")
	return m.(*Func).fn(nil, nil)
}

func fDictsort(v any, args []any, kw map[string]any) (any, error) {
	a, err := bind("dictsort", args, kw, 0, "case_sensitive", "by", "reverse")
	if err != nil {
		return nil, err
	}
	items, err := fItems(v, nil, nil)
	if err != nil {
		return nil, err
	}
	pos := 0
	if by := orDefault(a[1], "key"); by == "value" {
		pos = 1
	}
	return fSort(items, nil, map[string]any{"case_sensitive": orDefault(a[0], false), "reverse": orDefault(a[2], false), "attribute": pos})
}
