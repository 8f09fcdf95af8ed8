package render

import (
	"strconv"
	"strings"
)

// parser builds the statement tree from the token stream with recursive
// descent; expression precedence follows Jinja2's parser.
type parser struct {
	name  string
	toks  []token
	i     int
	depth int // recursion depth, bounded so hostile input cannot exhaust the stack
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return p.errf(p.cur().line, "expression or block nesting deeper than %d", maxNesting)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func parse(name, src string) ([]node, error) {
	toks, err := lex(name, src)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, toks: toks}
	body, end, err := p.subparse(nil)
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, p.errf(p.cur().line, "unexpected '%s'", end)
	}
	return body, nil
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &Error{File: p.name, Line: line, Msg: sprintf(format, args...), Err: ErrSyntax}
}

func (p *parser) cur() token  { return p.toks[p.i] }
func (p *parser) peek() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) isOp(v string) bool   { t := p.cur(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.cur(); return t.kind == tName && t.val == v }

func (p *parser) expectOp(v string) error {
	if !p.isOp(v) {
		return p.errf(p.cur().line, "expected '%s', got %s", v, describe(p.cur()))
	}
	p.next()
	return nil
}

func (p *parser) expectBlockEnd() error {
	if p.cur().kind != tBlockEnd {
		return p.errf(p.cur().line, "expected end of statement '%%}', got %s", describe(p.cur()))
	}
	p.next()
	return nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of template"
	case tVarEnd:
		return "'}}'"
	case tBlockEnd:
		return "'%}'"
	case tString:
		return strconv.Quote(t.val)
	case tText:
		return "text"
	}
	return "'" + t.val + "'"
}

// subparse parses statements until one of the end tags in ends (consumed up
// to the tag name; the caller handles the rest of the tag). It returns the
// tag name that ended the body, or "" at end of template.
func (p *parser) subparse(ends []string) ([]node, string, error) {
	var body []node
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if len(ends) > 0 {
				return nil, "", p.errf(t.line, "unexpected end of template: expected '%s'", strings.Join(ends, "' or '"))
			}
			return body, "", nil
		case tText:
			p.next()
			body = append(body, &textNode{s: t.val})
		case tVarBegin:
			p.next()
			e, err := p.parseTuple(false)
			if err != nil {
				return nil, "", err
			}
			if p.cur().kind != tVarEnd {
				return nil, "", p.errf(p.cur().line, "expected '}}', got %s", describe(p.cur()))
			}
			p.next()
			body = append(body, &outputNode{e: e, line: t.line})
		case tBlockBegin:
			p.next()
			kw := p.cur()
			if kw.kind != tName {
				return nil, "", p.errf(kw.line, "expected a statement name, got %s", describe(kw))
			}
			for _, e := range ends {
				if kw.val == e {
					p.next()
					return body, e, nil
				}
			}
			n, err := p.statement()
			if err != nil {
				return nil, "", err
			}
			body = append(body, n)
		default:
			return nil, "", p.errf(t.line, "unexpected %s", describe(t))
		}
	}
}

func (p *parser) statement() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	kw := p.next()
	switch kw.val {
	case "if":
		return p.parseIf()
	case "for":
		return p.parseFor(kw.line)
	case "set":
		return p.parseSet(kw.line)
	case "macro":
		return p.parseMacro(kw.line)
	case "endif", "endfor", "else", "elif", "endset", "endmacro", "endraw":
		return nil, p.errf(kw.line, "unexpected '%s' (no matching block is open)", kw.val)
	}
	return nil, p.errf(kw.line, "unknown or unsupported statement '%s'", kw.val)
}

func (p *parser) parseIf() (node, error) {
	n := &ifNode{}
	for {
		cond, err := p.parseTuple(false)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, end, err := p.subparse([]string{"elif", "else", "endif"})
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, cond)
		n.bodies = append(n.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.expectBlockEnd(); err != nil {
				return nil, err
			}
			n.els, _, err = p.subparse([]string{"endif"})
			if err != nil {
				return nil, err
			}
		}
		return n, p.expectBlockEnd()
	}
}

func (p *parser) parseTargets() ([]string, error) {
	var names []string
	paren := p.isOp("(")
	if paren {
		p.next()
	}
	for {
		t := p.cur()
		if t.kind != tName {
			return nil, p.errf(t.line, "expected a variable name, got %s", describe(t))
		}
		p.next()
		names = append(names, t.val)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func (p *parser) parseFor(line int) (node, error) {
	n := &forNode{line: line}
	var err error
	if n.targets, err = p.parseTargets(); err != nil {
		return nil, err
	}
	if !p.isName("in") {
		return nil, p.errf(p.cur().line, "expected 'in' in for loop, got %s", describe(p.cur()))
	}
	p.next()
	if n.iter, err = p.parseTupleNoCond(); err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		if n.cond, err = p.parseTuple(false); err != nil {
			return nil, err
		}
	}
	if p.isName("recursive") {
		return nil, p.errf(p.cur().line, "recursive for loops are not supported")
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	body, end, err := p.subparse([]string{"else", "endfor"})
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if n.els, _, err = p.subparse([]string{"endfor"}); err != nil {
			return nil, err
		}
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseSet(line int) (node, error) {
	// "{% set ns.attr = value %}" assigns into a namespace() object.
	if p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "." {
		obj := p.next().val
		p.next()
		attr := p.next()
		if attr.kind != tName {
			return nil, p.errf(attr.line, "expected attribute name after '.', got %s", describe(attr))
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		e, err := p.parseTuple(false)
		if err != nil {
			return nil, err
		}
		return &setNode{targets: []string{obj}, attr: attr.val, e: e, line: line}, p.expectBlockEnd()
	}
	targets, err := p.parseTargets()
	if err != nil {
		return nil, err
	}
	if p.isOp("=") {
		p.next()
		e, err := p.parseTuple(false)
		if err != nil {
			return nil, err
		}
		return &setNode{targets: targets, e: e, line: line}, p.expectBlockEnd()
	}
	if len(targets) != 1 {
		return nil, p.errf(line, "block set needs exactly one target")
	}
	n := &setBlockNode{target: targets[0], line: line}
	for p.isOp("|") {
		p.next()
		f, err := p.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.subparse([]string{"endset"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseMacro(line int) (node, error) {
	t := p.next()
	if t.kind != tName {
		return nil, p.errf(t.line, "expected macro name, got %s", describe(t))
	}
	n := &macroNode{name: t.val, line: line}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	for !p.isOp(")") {
		a := p.next()
		if a.kind != tName {
			return nil, p.errf(a.line, "expected parameter name, got %s", describe(a))
		}
		var def expr
		if p.isOp("=") {
			p.next()
			var err error
			if def, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		n.params = append(n.params, a.val)
		n.defaults = append(n.defaults, def)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	if err := p.expectOp(")"); err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	var err error
	if n.body, _, err = p.subparse([]string{"endmacro"}); err != nil {
		return nil, err
	}
	if p.cur().kind == tName && p.cur().val == n.name {
		p.next()
	}
	return n, p.expectBlockEnd()
}
