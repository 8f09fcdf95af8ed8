package render

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

type tokKind int

const (
	tEOF tokKind = iota
	tText
	tVarBegin
	tVarEnd
	tBlockBegin
	tBlockEnd
	tName
	tString
	tInt
	tFloat
	tOp
)

type token struct {
	kind tokKind
	val  string // text, name, operator, decoded string literal or number literal
	line int
}

// pyspace is Python's \s for ASCII, which is what Jinja's whitespace control strips.
const pyspace = " \t\n\r\f\v"

// Compiled on first use: every nacre process, the sandbox child included,
// would otherwise compile them at start (~0.05 ms) for templates that only
// nacre manifest renders.
var (
	rawStart = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\{%([-+]?)\s*raw\s*(-?)%\}`) })
	rawEnd   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{%(-?)\s*endraw\s*[-+]?%\}`) })
)

// lexer splits a template into text and tag tokens; inside tags it produces
// expression tokens. Whitespace control ("-" next to a delimiter) is applied
// here so the parser never sees it.
type lexer struct {
	name   string
	src    string
	pos    int
	line   int
	toks   []token
	lstrip bool // strip leading whitespace of the next text chunk
}

func lex(name, src string) ([]token, error) {
	lx := &lexer{name: name, src: src, line: 1}
	if err := lx.run(); err != nil {
		return nil, err
	}
	lx.toks = append(lx.toks, token{kind: tEOF, line: lx.line})
	return lx.toks, nil
}

func (lx *lexer) errf(line int, format string, args ...any) error {
	return &Error{File: lx.name, Line: line, Msg: sprintf(format, args...), Err: ErrSyntax}
}

// advance moves pos to p, counting newlines.
func (lx *lexer) advance(p int) {
	lx.line += strings.Count(lx.src[lx.pos:p], "\n")
	lx.pos = p
}

func (lx *lexer) emitText(s string, line int) {
	if lx.lstrip {
		s = strings.TrimLeft(s, pyspace)
		lx.lstrip = false
	}
	if s != "" {
		lx.toks = append(lx.toks, token{kind: tText, val: s, line: line})
	}
}

func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		i := nextTagStart(lx.src, lx.pos)
		if i < 0 {
			lx.emitText(lx.src[lx.pos:], lx.line)
			lx.advance(len(lx.src))
			return nil
		}
		text := lx.src[lx.pos:i]
		if i+2 < len(lx.src) && lx.src[i+2] == '-' {
			text = strings.TrimRight(text, pyspace)
		}
		lx.emitText(text, lx.line)
		lx.advance(i)
		var err error
		switch lx.src[i+1] {
		case '#':
			err = lx.comment()
		case '{':
			err = lx.tag(tVarBegin, tVarEnd, "}}")
		case '%':
			if m := rawStart().FindStringSubmatch(lx.src[i:]); m != nil {
				err = lx.raw(len(m[0]), m[2] == "-")
			} else {
				err = lx.tag(tBlockBegin, tBlockEnd, "%}")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func nextTagStart(s string, from int) int {
	for i := from; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

func (lx *lexer) comment() error {
	start := lx.line
	j := strings.Index(lx.src[lx.pos+2:], "#}")
	if j < 0 {
		return lx.errf(start, "unterminated comment: missing '#}'")
	}
	end := lx.pos + 2 + j
	if end > lx.pos+2 && lx.src[end-1] == '-' {
		lx.lstrip = true
	}
	lx.advance(end + 2)
	return nil
}

func (lx *lexer) raw(openLen int, stripAfterOpen bool) error {
	start := lx.line
	lx.advance(lx.pos + openLen)
	loc := rawEnd().FindStringSubmatchIndex(lx.src[lx.pos:])
	if loc == nil {
		return lx.errf(start, "unterminated raw block: missing '{%% endraw %%}'")
	}
	body := lx.src[lx.pos : lx.pos+loc[0]]
	if stripAfterOpen {
		body = strings.TrimLeft(body, pyspace)
	}
	if loc[3] > loc[2] { // "{%- endraw"
		body = strings.TrimRight(body, pyspace)
	}
	lx.lstrip = false
	if body != "" {
		lx.toks = append(lx.toks, token{kind: tText, val: body, line: lx.line})
	}
	closing := lx.src[lx.pos+loc[0] : lx.pos+loc[1]]
	lx.lstrip = strings.HasSuffix(closing, "-%}")
	lx.advance(lx.pos + loc[1])
	return nil
}

// tag lexes "{{ ... }}" or "{% ... %}" starting at lx.pos.
func (lx *lexer) tag(begin, end tokKind, closer string) error {
	start := lx.line
	lx.toks = append(lx.toks, token{kind: begin, line: start})
	p := lx.pos + 2
	if p < len(lx.src) && (lx.src[p] == '-' || lx.src[p] == '+') {
		p++
	}
	lx.advance(p)
	depth := 0
	for {
		// skip whitespace
		for lx.pos < len(lx.src) && strings.IndexByte(pyspace, lx.src[lx.pos]) >= 0 {
			lx.advance(lx.pos + 1)
		}
		if lx.pos >= len(lx.src) {
			return lx.errf(start, "unexpected end of template: tag opened here is missing '%s'", closer)
		}
		rest := lx.src[lx.pos:]
		if depth == 0 {
			if strings.HasPrefix(rest, "-"+closer) {
				lx.toks = append(lx.toks, token{kind: end, line: lx.line})
				lx.advance(lx.pos + 3)
				lx.lstrip = true
				return nil
			}
			if strings.HasPrefix(rest, closer) {
				lx.toks = append(lx.toks, token{kind: end, line: lx.line})
				lx.advance(lx.pos + 2)
				return nil
			}
		}
		c := rest[0]
		switch {
		case c == '_' || isAlpha(c):
			n := 1
			for n < len(rest) && (rest[n] == '_' || isAlpha(rest[n]) || isDigit(rest[n])) {
				n++
			}
			lx.toks = append(lx.toks, token{kind: tName, val: rest[:n], line: lx.line})
			lx.advance(lx.pos + n)
		case isDigit(c):
			n, kind := scanNumber(rest)
			lx.toks = append(lx.toks, token{kind: kind, val: strings.ReplaceAll(rest[:n], "_", ""), line: lx.line})
			lx.advance(lx.pos + n)
		case c == '\'' || c == '"':
			s, n, err := scanString(rest)
			if err != nil {
				return lx.errf(lx.line, "%v", err)
			}
			lx.toks = append(lx.toks, token{kind: tString, val: s, line: lx.line})
			lx.advance(lx.pos + n)
		default:
			op := ""
			for _, cand := range []string{"//", "**", "==", "!=", "<=", ">="} {
				if strings.HasPrefix(rest, cand) {
					op = cand
					break
				}
			}
			if op == "" {
				if strings.IndexByte("+-*/%~<>=()[]{}.,:|", c) < 0 {
					return lx.errf(lx.line, "unexpected character %q in tag", rune(c))
				}
				op = string(c)
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth > 0 {
					depth--
				}
			}
			lx.toks = append(lx.toks, token{kind: tOp, val: op, line: lx.line})
			lx.advance(lx.pos + len(op))
		}
	}
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func scanNumber(s string) (int, tokKind) {
	n := 0
	for n < len(s) && (isDigit(s[n]) || s[n] == '_') {
		n++
	}
	kind := tInt
	if n+1 < len(s) && s[n] == '.' && isDigit(s[n+1]) {
		kind = tFloat
		n++
		for n < len(s) && (isDigit(s[n]) || s[n] == '_') {
			n++
		}
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		m := n + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if m < len(s) && isDigit(s[m]) {
			for m < len(s) && isDigit(s[m]) {
				m++
			}
			n, kind = m, tFloat
		}
	}
	return n, kind
}

// scanString decodes a Python string literal at the start of s and returns
// its value and length in s.
func scanString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case '\\', '\'', '"':
				b.WriteByte(e)
			case '\n':
				// line continuation
			case 'x', 'u', 'U':
				w := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+1+w > len(s) {
					return "", 0, errorString("truncated \\" + string(e) + " escape in string literal")
				}
				v, err := strconv.ParseUint(s[i+1:i+1+w], 16, 32)
				if err != nil {
					return "", 0, errorString("invalid \\" + string(e) + " escape in string literal")
				}
				b.WriteRune(rune(v))
				i += w
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errorString("unterminated string literal")
}

type errorString string

func (e errorString) Error() string { return string(e) }
