package render

// Expression parsing; precedence (lowest first) follows Jinja2: conditional,
// or, and, not, comparison, + -, ~, * / // %, **, unary, postfix, filters/tests.

import (
	"strconv"
)

// parseTuple parses an expression, or an unparenthesised tuple "a, b".
func (p *parser) parseTuple(noCond bool) (expr, error) {
	line := p.cur().line
	first, err := p.parseExprMaybeNoCond(noCond)
	if err != nil {
		return nil, err
	}
	if !p.isOp(",") {
		return first, nil
	}
	items := []expr{first}
	for p.isOp(",") {
		p.next()
		if p.atExprEnd() {
			break
		}
		e, err := p.parseExprMaybeNoCond(noCond)
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	return &listExpr{pos: pos{line}, items: items, tuple: true}, nil
}

func (p *parser) parseTupleNoCond() (expr, error) { return p.parseTuple(true) }

func (p *parser) atExprEnd() bool {
	t := p.cur()
	return t.kind == tVarEnd || t.kind == tBlockEnd || t.kind == tEOF ||
		t.kind == tOp && (t.val == ")" || t.val == "]" || t.val == "}") ||
		t.kind == tName && (t.val == "if" || t.val == "in")
}

func (p *parser) parseExprMaybeNoCond(noCond bool) (expr, error) {
	if noCond {
		return p.parseOr()
	}
	return p.parseExpr()
}

// parseExpr: conditional expression "a if c else b".
func (p *parser) parseExpr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		line := p.next().line
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var other expr
		if p.isName("else") {
			p.next()
			if other, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		e = &condExpr{pos: pos{line}, cond: cond, a: e, b: other}
	}
	return e, nil
}

func (p *parser) parseOr() (expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isName("or") {
		line := p.next().line
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{line}, op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (expr, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isName("and") {
		line := p.next().line
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{line}, op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseNot() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.isName("not") {
		line := p.next().line
		e, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{pos: pos{line}, op: "not", e: e}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.cur().line
	first, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	c := &compareExpr{pos: pos{line}, first: first}
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == tName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == tName && t.val == "not" && p.peek().kind == tName && p.peek().val == "in":
			op = "not in"
			p.next()
			p.next()
		default:
			if len(c.ops) == 0 {
				return first, nil
			}
			return c, nil
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		c.ops = append(c.ops, op)
		c.rest = append(c.rest, r)
	}
}

func (p *parser) parseMath1() (expr, error) {
	l, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		t := p.next()
		r, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{t.line}, op: t.val, l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseConcat() (expr, error) {
	l, err := p.parseMath2()
	if err != nil {
		return nil, err
	}
	for p.isOp("~") {
		t := p.next()
		r, err := p.parseMath2()
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{t.line}, op: "~", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseMath2() (expr, error) {
	l, err := p.parsePow()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") {
		t := p.next()
		r, err := p.parsePow()
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{t.line}, op: t.val, l: l, r: r}
	}
	return l, nil
}

func (p *parser) parsePow() (expr, error) {
	l, err := p.parseUnary(true)
	if err != nil {
		return nil, err
	}
	for p.isOp("**") {
		t := p.next()
		r, err := p.parseUnary(true)
		if err != nil {
			return nil, err
		}
		l = &binExpr{pos: pos{t.line}, op: "**", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var e expr
	var err error
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		inner, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		e = &unaryExpr{pos: pos{t.line}, op: t.val, e: inner}
	} else {
		if e, err = p.parsePrimary(); err != nil {
			return nil, err
		}
	}
	if e, err = p.parsePostfix(e); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterTests(e)
	}
	return e, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.next()
	ps := pos{t.line}
	switch t.kind {
	case tName:
		switch t.val {
		case "true", "True":
			return &constExpr{ps, true}, nil
		case "false", "False":
			return &constExpr{ps, false}, nil
		case "none", "None":
			return &constExpr{ps, nil}, nil
		}
		return &nameExpr{ps, t.val}, nil
	case tString:
		s := t.val
		for p.cur().kind == tString { // adjacent literals concatenate
			s += p.next().val
		}
		return &constExpr{ps, s}, nil
	case tInt:
		v, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, p.errf(t.line, "integer literal %s out of range", t.val)
		}
		return &constExpr{ps, int(v)}, nil
	case tFloat:
		v, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, p.errf(t.line, "bad float literal %s", t.val)
		}
		return &constExpr{ps, v}, nil
	case tOp:
		switch t.val {
		case "(":
			if p.isOp(")") {
				p.next()
				return &listExpr{pos: ps, tuple: true}, nil
			}
			e, err := p.parseTuple(false)
			if err != nil {
				return nil, err
			}
			if l, ok := e.(*listExpr); ok && l.tuple && !p.isOp(")") {
				return nil, p.errf(p.cur().line, "expected ')', got %s", describe(p.cur()))
			}
			// "(a,)" is a one-element tuple; parseTuple already built it.
			return e, p.expectOp(")")
		case "[":
			l := &listExpr{pos: ps}
			for !p.isOp("]") {
				e, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, e)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return l, p.expectOp("]")
		case "{":
			d := &dictExpr{pos: ps}
			for !p.isOp("}") {
				k, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return d, p.expectOp("}")
		}
	}
	return nil, p.errf(t.line, "unexpected %s in expression", describe(t))
}

func (p *parser) parsePostfix(e expr) (expr, error) {
	for {
		t := p.cur()
		if t.kind != tOp {
			return e, nil
		}
		switch t.val {
		case ".":
			p.next()
			n := p.next()
			switch n.kind {
			case tName:
				e = &attrExpr{pos: pos{n.line}, obj: e, name: n.val}
			case tInt: // "x.0" is item access in Jinja
				v, _ := strconv.Atoi(n.val)
				e = &itemExpr{pos: pos{n.line}, obj: e, key: &constExpr{pos{n.line}, v}}
			default:
				return nil, p.errf(n.line, "expected attribute name after '.', got %s", describe(n))
			}
		case "[":
			p.next()
			var err error
			if e, err = p.parseSubscript(e, t.line); err != nil {
				return nil, err
			}
		case "(":
			p.next()
			c := &callExpr{pos: pos{t.line}, fn: e}
			if err := p.parseArgs(&c.args, &c.kwargs); err != nil {
				return nil, err
			}
			e = c
		default:
			return e, nil
		}
	}
}

func (p *parser) parseSubscript(obj expr, line int) (expr, error) {
	var parts [3]expr
	n := 0
	isSlice := false
	for {
		if p.isOp(":") {
			isSlice = true
			p.next()
			n++
			if n > 2 {
				return nil, p.errf(line, "too many ':' in subscript")
			}
			continue
		}
		if p.isOp("]") {
			break
		}
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		parts[n] = e
		if !p.isOp(":") && !p.isOp("]") {
			return nil, p.errf(p.cur().line, "expected ']' in subscript, got %s", describe(p.cur()))
		}
	}
	p.next()
	if !isSlice {
		if parts[0] == nil {
			return nil, p.errf(line, "empty subscript")
		}
		return &itemExpr{pos: pos{line}, obj: obj, key: parts[0]}, nil
	}
	return &sliceExpr{pos: pos{line}, obj: obj, lo: parts[0], hi: parts[1], step: parts[2]}, nil
}

// parseArgs parses call arguments after "(" up to and including ")".
func (p *parser) parseArgs(args *[]expr, kwargs *[]kwarg) error {
	for !p.isOp(")") {
		if p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "=" {
			name := p.next().val
			p.next()
			e, err := p.parseExpr()
			if err != nil {
				return err
			}
			*kwargs = append(*kwargs, kwarg{name, e})
		} else {
			if len(*kwargs) > 0 {
				return p.errf(p.cur().line, "positional argument follows keyword argument")
			}
			e, err := p.parseExpr()
			if err != nil {
				return err
			}
			*args = append(*args, e)
		}
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return p.expectOp(")")
}

func (p *parser) parseFilterCall(e expr) (*filterExpr, error) {
	t := p.next()
	if t.kind != tName {
		return nil, p.errf(t.line, "expected filter name after '|', got %s", describe(t))
	}
	name := t.val
	for p.isOp(".") { // dotted filter names
		p.next()
		name += "." + p.next().val
	}
	f := &filterExpr{pos: pos{t.line}, e: e, name: name}
	if p.isOp("(") {
		p.next()
		if err := p.parseArgs(&f.args, &f.kwargs); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseFilterTests(e expr) (expr, error) {
	for {
		switch {
		case p.isOp("|"):
			p.next()
			f, err := p.parseFilterCall(e)
			if err != nil {
				return nil, err
			}
			e = f
		case p.isName("is"):
			line := p.next().line
			te := &testExpr{pos: pos{line}, e: e}
			if p.isName("not") {
				p.next()
				te.negate = true
			}
			t := p.next()
			if t.kind != tName {
				return nil, p.errf(t.line, "expected test name after 'is', got %s", describe(t))
			}
			te.name = t.val
			if p.isOp("(") {
				p.next()
				var kw []kwarg
				if err := p.parseArgs(&te.args, &kw); err != nil {
					return nil, err
				}
			} else if c := p.cur(); c.kind == tString || c.kind == tInt || c.kind == tFloat ||
				c.kind == tName && !isKeyword(c.val) || c.kind == tOp && (c.val == "[" || c.val == "{") {
				// "x is divisibleby 3": one argument without parentheses
				arg, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				if arg, err = p.parsePostfix(arg); err != nil {
					return nil, err
				}
				te.args = []expr{arg}
			}
			e = te
		default:
			return e, nil
		}
	}
}

func isKeyword(s string) bool {
	switch s {
	case "and", "or", "not", "if", "else", "in", "is", "recursive":
		return true
	}
	return false
}
