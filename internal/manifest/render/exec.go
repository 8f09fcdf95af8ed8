package render

// Statement execution: scopes, loops, assignments and macros.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

type frame struct {
	vars   map[string]any
	parent *frame
}

func (f *frame) lookup(name string) (any, bool) {
	for ; f != nil; f = f.parent {
		if v, ok := f.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

type state struct {
	file    string
	globals map[string]any
	root    *frame
	out     *strings.Builder
	depth   int
}

// locate attaches the template position to an evaluation error.
func (s *state) locate(err error, line int) error {
	var le *Error
	if errors.As(err, &le) {
		return err
	}
	e := &Error{File: s.file, Line: line, Msg: err.Error(), Err: err}
	var ee *evalError
	if errors.As(err, &ee) {
		e.Name = ee.name
		e.Err = ee.err
		if ee.variable {
			if _, isGlobal := s.globals[ee.name]; !isGlobal {
				e.Msg += " (pass it with -D " + ee.name + "=VALUE)"
			}
		}
	}
	return e
}

func (s *state) write(str string) error {
	if s.out.Len()+len(str) > maxOutput {
		return errf("output exceeds %d bytes", maxOutput)
	}
	s.out.WriteString(str)
	return nil
}

func (s *state) exec(nodes []node, f *frame) error {
	for _, n := range nodes {
		if err := s.execOne(n, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *state) execOne(n node, f *frame) error {
	switch n := n.(type) {
	case *textNode:
		if err := s.write(n.s); err != nil {
			return s.locate(err, 0)
		}
	case *outputNode:
		v, err := s.eval(n.e, f)
		if err != nil {
			return err
		}
		str, err := toStr(v)
		if err == nil {
			err = s.write(str)
		}
		if err != nil {
			return s.locate(err, n.line)
		}
	case *ifNode:
		for i, c := range n.conds {
			v, err := s.eval(c, f)
			if err != nil {
				return err
			}
			ok, err := truth(v)
			if err != nil {
				return s.locate(err, c.ln())
			}
			if ok {
				return s.exec(n.bodies[i], f)
			}
		}
		return s.exec(n.els, f)
	case *forNode:
		return s.execFor(n, f)
	case *setNode:
		v, err := s.eval(n.e, f) // an undefined value fails only when used
		if err != nil {
			return err
		}
		if n.attr != "" {
			ns, ok := s.lookup(n.targets[0], f).(*namespace)
			if !ok {
				return s.locate(errf("cannot assign attribute on non-namespace object '%s'", n.targets[0]), n.line)
			}
			ns.d.set(n.attr, v)
			return nil
		}
		return s.locate0(assign(f, n.targets, v), n.line)
	case *setBlockNode:
		saved := s.out
		s.out = &strings.Builder{}
		err := s.exec(n.body, f)
		captured := s.out.String()
		s.out = saved
		if err != nil {
			return err
		}
		var v any = captured
		for _, fl := range n.filters {
			if v, err = s.applyFilter(fl, v, f); err != nil {
				return err
			}
		}
		f.vars[n.target] = v
	case *macroNode:
		f.vars[n.name] = s.macro(n)
	}
	return nil
}

func (s *state) locate0(err error, line int) error {
	if err == nil {
		return nil
	}
	return s.locate(err, line)
}

func assign(f *frame, targets []string, v any) error {
	if len(targets) == 1 {
		f.vars[targets[0]] = v
		return nil
	}
	items, err := iterate(v)
	if err != nil {
		return err
	}
	if len(items) != len(targets) {
		return errf("cannot unpack %d values into %d names", len(items), len(targets))
	}
	for i, t := range targets {
		f.vars[t] = items[i]
	}
	return nil
}

func (s *state) execFor(n *forNode, f *frame) error {
	iv, err := s.eval(n.iter, f)
	if err != nil {
		return err
	}
	items, err := iterate(iv)
	if err != nil {
		return s.locate(err, n.iter.ln())
	}
	if n.cond != nil { // the loop filter is applied before loop.* is computed
		var kept []any
		for _, it := range items {
			inner := &frame{vars: map[string]any{}, parent: f}
			if err := assign(inner, n.targets, it); err != nil {
				return s.locate(err, n.line)
			}
			v, err := s.eval(n.cond, inner)
			if err != nil {
				return err
			}
			ok, err := truth(v)
			if err != nil {
				return s.locate(err, n.cond.ln())
			}
			if ok {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return s.exec(n.els, f)
	}
	for i, it := range items {
		inner := &frame{vars: map[string]any{}, parent: f}
		inner.vars["loop"] = &loopObj{items: items, i: i}
		if err := assign(inner, n.targets, it); err != nil {
			return s.locate(err, n.line)
		}
		if err := s.exec(n.body, inner); err != nil {
			return err
		}
	}
	return nil
}

// namespace is Jinja's namespace(): the one object "set" can modify from
// inside a loop.
type namespace struct{ d *Dict }

func (n *namespace) typeName() string { return "Namespace" }
func (n *namespace) getAttr(name string) (any, bool, error) {
	v, ok := n.d.get(name)
	return v, ok, nil
}
func (n *namespace) pyStr() (string, error) {
	s, err := repr(n.d)
	return "<Namespace " + s + ">", err
}

func newNamespace(args []any, kw map[string]any) (any, error) {
	ns := &namespace{d: newDict()}
	for _, a := range args {
		d, ok := a.(*Dict)
		if !ok {
			return nil, errf("namespace() positional argument must be a dict, not '%s'", typeName(a))
		}
		for _, k := range d.keys {
			ns.d.set(k, d.m[k])
		}
	}
	keys := make([]string, 0, len(kw))
	for k := range kw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ns.d.set(k, kw[k])
	}
	return ns, nil
}

// loopObj is the "loop" variable inside for loops.
type loopObj struct {
	items []any
	i     int
}

func (l *loopObj) typeName() string { return "LoopContext" }

func (l *loopObj) getAttr(name string) (any, bool, error) {
	n := len(l.items)
	switch name {
	case "index":
		return l.i + 1, true, nil
	case "index0":
		return l.i, true, nil
	case "revindex":
		return n - l.i, true, nil
	case "revindex0":
		return n - l.i - 1, true, nil
	case "first":
		return l.i == 0, true, nil
	case "last":
		return l.i == n-1, true, nil
	case "length":
		return n, true, nil
	case "depth":
		return 1, true, nil
	case "depth0":
		return 0, true, nil
	case "previtem":
		if l.i == 0 {
			return &Undefined{name: "previtem", msg: "there is no previous item"}, true, nil
		}
		return l.items[l.i-1], true, nil
	case "nextitem":
		if l.i == n-1 {
			return &Undefined{name: "nextitem", msg: "there is no next item"}, true, nil
		}
		return l.items[l.i+1], true, nil
	case "cycle":
		return &Func{name: "loop.cycle", fn: func(args []any, _ map[string]any) (any, error) {
			if len(args) == 0 {
				return nil, errf("loop.cycle() needs at least one argument")
			}
			return args[l.i%len(args)], nil
		}}, true, nil
	case "changed":
		return nil, false, nil
	}
	return nil, false, nil
}

func (s *state) macro(n *macroNode) *Func {
	return &Func{name: n.name, fn: func(args []any, kw map[string]any) (any, error) {
		if s.depth >= maxCallDepth {
			return nil, errf("macro '%s': maximum call depth %d exceeded", n.name, maxCallDepth)
		}
		if len(args) > len(n.params) {
			return nil, errf("macro '%s' takes %d arguments, %d given", n.name, len(n.params), len(args))
		}
		inner := &frame{vars: map[string]any{}, parent: s.root}
		for i, p := range n.params {
			switch v, ok := kw[p]; {
			case i < len(args):
				inner.vars[p] = args[i]
			case ok:
				inner.vars[p] = v
			case n.defaults[i] != nil:
				d, err := s.eval(n.defaults[i], inner)
				if err != nil {
					return nil, err
				}
				inner.vars[p] = d
			default:
				inner.vars[p] = &Undefined{name: p, msg: fmt.Sprintf("parameter '%s' was not provided", p)}
			}
		}
		for k := range kw {
			if _, ok := inner.vars[k]; !ok {
				return nil, errf("macro '%s' has no parameter '%s'", n.name, k)
			}
		}
		saved := s.out
		s.out = &strings.Builder{}
		s.depth++
		err := s.exec(n.body, inner)
		s.depth--
		res := s.out.String()
		s.out = saved
		if err != nil {
			return nil, err
		}
		return res, nil
	}}
}

func (s *state) lookup(name string, f *frame) any {
	if v, ok := f.lookup(name); ok {
		return v
	}
	if v, ok := s.globals[name]; ok {
		return v
	}
	return &Undefined{name: name}
}
